#!/usr/bin/env python3
"""The tiny nested fixture (tests/fixtures/tiny-nested): NestedDepthAnything3Net, the
da3nested-giant-large code path, built from the two tiny networks of make_fixtures.py
(tiny-anyview's any-view net and tiny-mono's metric net with sky head), with their own seeds.

    tools/reference/.venv/bin/python tools/reference/make_nested_fixture.py [--out DIR]

Writes config.json (model_name da3nested-giant-large + "architecture": {"anyview", "metric"}),
model.safetensors (save_pretrained), and forward_<case>.safetensors with `image` and the
outputs of model.model(image) in fp32: depth, depth_conf, pred_extrinsics, pred_intrinsics,
scale_factor (1,), plus the metric branch's own depth and sky for debugging
(`metric.depth` after its sky fill, before scaling; `metric.sky`). Reruns are byte-identical.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

from safetensors.torch import save_file  # noqa: E402
from depth_anything_3.model.da3 import NestedDepthAnything3Net  # noqa: E402

NAME = "tiny-nested"
PRESET = "da3nested-giant-large"
CASES = [("1view_56x70", 1, 56, 70, 41), ("2view_70x56", 2, 70, 56, 43)]


def build() -> tuple[NestedDepthAnything3Net, dict]:
    anyview = replace(mf.FIXTURES["tiny-anyview"], param_seed=4004)
    metric = replace(mf.FIXTURES["tiny-mono"], param_seed=5005)
    torch.manual_seed(anyview.param_seed)
    da3 = mf.build_net(anyview)
    mf.redraw_parameters(da3, anyview.param_seed)
    da3_metric = mf.build_net(metric)
    mf.redraw_parameters(da3_metric, metric.param_seed)
    # NestedDepthAnything3Net.__init__ builds both branches from yaml configs at full size;
    # make an empty one and give it the tiny branches instead.
    nested = NestedDepthAnything3Net.__new__(NestedDepthAnything3Net)
    nn.Module.__init__(nested)
    nested.da3, nested.da3_metric = da3, da3_metric
    arch = {"anyview": mf.architecture_dict(anyview), "metric": mf.architecture_dict(metric)}
    return nested.eval(), arch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "tests" / "fixtures")
    args = ap.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    net, arch = build()
    spec = replace(mf.FIXTURES["tiny-anyview"], name=NAME, preset=PRESET)
    wrapper = mf.build_wrapper(spec, net)
    out = args.out / NAME
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = dict(wrapper._hub_mixin_config or {})
    config["architecture"] = arch
    wrapper.save_pretrained(out, config=config)
    mf.canonicalize_header(out / "model.safetensors")
    (out / "README.md").unlink(missing_ok=True)

    for name, views, h, w, seed in CASES:
        g = torch.Generator().manual_seed(seed)
        image = mf.make_image(mf.Case(name, views=views, height=h, width=w, seed=seed), g)
        metric_seen = {}

        def keep_metric(module, inputs, output):
            metric_seen["depth"] = output["depth"].clone()
            metric_seen["sky"] = output["sky"].clone()

        hook = net.da3_metric.register_forward_hook(keep_metric)
        with torch.no_grad():
            o = net(image)
        hook.remove()
        sky = metric_seen["sky"]
        margin = float((sky - 0.3).abs().min())
        assert margin > 1e-4, f"{name}: a sky value is within {margin} of the 0.3 threshold"
        tensors = {
            "image": image.contiguous(),
            "depth": o["depth"].float().contiguous(),
            "depth_conf": o["depth_conf"].float().contiguous(),
            "pred_extrinsics": o["extrinsics"].float().contiguous(),
            "pred_intrinsics": o["intrinsics"].float().contiguous(),
            "scale_factor": torch.tensor([o["scale_factor"]], dtype=torch.float32),
            "metric.depth": metric_seen["depth"].contiguous(),
            "metric.sky": sky.contiguous(),
        }
        path = out / f"forward_{name}.safetensors"
        save_file(tensors, str(path), metadata={"views": str(views), "height": str(h), "width": str(w),
                                                "seed": str(seed)})
        mf.canonicalize_header(path)
        sky_frac = float((sky >= 0.3).float().mean())
        print(f"{path.name}: scale_factor {o['scale_factor']:.6f}, sky {sky_frac:.0%}, margin {margin:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
