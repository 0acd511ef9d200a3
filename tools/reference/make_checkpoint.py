#!/usr/bin/env python3
"""Full-size DA3 checkpoints with seeded random weights, plus reference outputs, for the opt-in
parity tests and the benchmarks.

    PY=tools/reference/.venv/bin/python
    $PY tools/reference/make_checkpoint.py --preset da3-small --out models/random-da3-small
    $PY tools/reference/make_checkpoint.py --preset da3-small --out models/random-da3-small \
        --case 378x504x1 --case 378x504x4          # also write inputs + reference outputs

The weights are drawn exactly as the committed fixtures' (make_fixtures.redraw_parameters), then
written by the reference's own save_pretrained: the directory has the layout of the official
Hugging Face checkpoints (config.json naming the preset + model.safetensors). Each --case HxWxN
writes forward_HxWxN.safetensors with `image` (1,N,3,H,W) and the reference outputs of
model.model(...) in fp32 (depth, depth_conf, pred_extrinsics, pred_intrinsics, sky), timed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (reference imports + the parameter redraw rules)

from safetensors.torch import save_file  # noqa: E402


def build(preset: str, seed: int) -> mf.DepthAnything3:
    wrapper = mf.DepthAnything3(model_name=preset)
    nets = [wrapper.model.da3, wrapper.model.da3_metric] if hasattr(wrapper.model, "da3_metric") else [wrapper.model]
    for i, net in enumerate(nets):
        mf.redraw_parameters(net, seed + i)
    return wrapper.eval()


def run_case(wrapper, spec: str, seed: int, threads: int):
    h, w, n = (int(v) for v in spec.split("x"))
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(1, n, 3, h, w, generator=g)
    torch.set_num_threads(threads)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = wrapper.model(image, None, None, export_feat_layers=[], infer_gs=False,
                            use_ray_pose=False, ref_view_strategy="saddle_balanced")
        ms = (time.perf_counter() - t0) * 1e3
    tensors = {"image": image.contiguous()}
    for k in ("depth", "depth_conf", "sky"):
        if k in out:
            tensors[k] = out[k].float().contiguous()
    for k in ("extrinsics", "intrinsics"):
        if k in out:
            tensors["pred_" + k] = out[k].float().contiguous()
    return tensors, ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, help="da3-small, da3-base, ..., da3nested-giant-large")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--case", action="append", default=[], help="HxWxVIEWS, e.g. 378x504x1 (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    wrapper = build(args.preset, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.out / "model.safetensors").exists():
        wrapper.save_pretrained(str(args.out))
        (args.out / "README.md").unlink(missing_ok=True)
        print(f"wrote {args.out}/model.safetensors")
    for spec in args.case:
        tensors, ms = run_case(wrapper, spec, args.seed + 7, args.threads)
        path = args.out / f"forward_{spec}.safetensors"
        save_file(tensors, str(path), metadata={"preset": args.preset, "reference_ms": f"{ms:.1f}"})
        print(f"wrote {path} (reference forward {ms:.0f} ms on {args.threads} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
