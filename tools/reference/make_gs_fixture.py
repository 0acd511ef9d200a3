#!/usr/bin/env python3
"""The tiny Gaussian-splatting fixture (tests/fixtures/tiny-giant-gs): the da3-giant code path
WITH its 3D Gaussian head, i.e. DepthAnything3Net + GSDPT (model/gsdpt.py) + GaussianAdapter
(model/gs_adapter.py, sh_degree 2, pred_offset_depth/xy as configs/da3-giant.yaml), tiny sizes.

    tools/reference/.venv/bin/python tools/reference/make_gs_fixture.py [--out DIR]

Needs e3nn in the venv (utils/sh_helpers.py rotate_sh imports it). The network is called
directly with infer_gs=True in fp32: DepthAnything3.inference() would add gs_video (gsplat, CUDA).

Writes, under <out>/tiny-giant-gs/:
  config.json, model.safetensors   save_pretrained layout; "architecture" also spells out
                                   "gs_head" (GSDPT args) and "gs_adapter" (GaussianAdapter args)
  forward_<case>.safetensors       inputs (image; extrinsics/intrinsics when posed), the network's
                                   depth / depth_conf / pred_extrinsics / pred_intrinsics, the
                                   reference's Gaussians (gs_means (1, N·H·W, 3), gs_scales (.., 3),
                                   gs_rotations (.., 4), gs_harmonics (.., 3, 9), gs_opacities
                                   (1, N·H·W)), and for debugging the GS head's raw output
                                   (gs_head.raw_gs (1, N, H, W, 37), gs_head.raw_gs_conf (1, N, H, W))
                                   and taps (gs_head.resize.{k}, gs_head.output_conv1, NCHW per view
                                   with a leading (1, N)); posed: gs_adapter.pose_scale (1,), the
                                   clamped Umeyama scale the adapter applied
  gs_ply_<case>.ply                the reference's own export_to_gs_ply of that case's Gaussians
                                   and depth (border trim, depth <= 0.9 quantile per view, DC-only
                                   SH, inverse-sigmoid opacity, log scales), for 1view and posed
  sh_rotation.safetensors          unit data for rotate_sh: rotations (K, 3, 3), coefficients
                                   (K, 3, 9), rotated (K, 3, 9) = rotate_sh(coefficients, rotations)
and under <out>/tiny-nested-gs/ the same any-view network nested with tiny-mono's metric branch
(da3nested-giant-large code path; make_nested_fixture.py's construction): config.json,
model.safetensors, forward_1view_42x56.safetensors with image, depth (metric-scaled),
scale_factor (1,) and the gs_* fields, which the reference computes before the metric scaling.
Reruns are byte-identical (one thread, deterministic algorithms, seeded draws).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from types import SimpleNamespace
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

from safetensors.torch import load_file, save_file  # noqa: E402
import depth_anything_3.model.gs_adapter as gs_adapter_module  # noqa: E402
from depth_anything_3.model.da3 import NestedDepthAnything3Net  # noqa: E402
from depth_anything_3.model.gs_adapter import GaussianAdapter  # noqa: E402
from depth_anything_3.model.gsdpt import GSDPT  # noqa: E402
from depth_anything_3.specs import Gaussians  # noqa: E402
from depth_anything_3.utils.export.gs import export_to_gs_ply  # noqa: E402
from depth_anything_3.utils.sh_helpers import rotate_sh  # noqa: E402

NAME = "tiny-giant-gs"
PRESET = "da3-giant"
PARAM_SEED = 6006
# configs/da3-giant.yaml's gs_adapter; gs_head with the tiny head's sizes (output_dim = d_in + 1).
GS_ADAPTER = {"sh_degree": 2, "pred_color": False, "pred_offset_depth": True, "pred_offset_xy": True,
              "gaussian_scale_min": 1e-5, "gaussian_scale_max": 30.0}
GS_HEAD = {"dim_in": 128, "output_dim": 38, "features": 16, "out_channels": [8, 16, 32, 32]}
CASES = [
    mf.Case("1view_56x70", views=1, height=56, width=70, seed=61),
    mf.Case("2view_42x56", views=2, height=42, width=56, seed=62),
    # Given cameras: the adapter rescales by the Umeyama Sim(3) scale between the given and the
    # predicted camera centres (1 for one view, where evo's alignment raises; a full-rank
    # covariance from 3 views here).
    mf.Case("3view_posed_42x56", views=3, height=42, width=56, seed=64, with_pose=True),
]


def spec() -> mf.FixtureSpec:
    base = mf.FIXTURES["tiny-giant-like"]
    return replace(base, name=NAME, preset=PRESET, param_seed=PARAM_SEED,
                   description="tiny-giant-like with the GS head (GSDPT + GaussianAdapter)", cases=CASES)


def build(s: mf.FixtureSpec):
    torch.manual_seed(s.param_seed)
    net = mf.build_net(s)
    net.gs_adapter = GaussianAdapter(**GS_ADAPTER)
    assert net.gs_adapter.d_in + 1 == GS_HEAD["output_dim"]
    net.gs_head = GSDPT(**GS_HEAD)
    mf.redraw_parameters(net, s.param_seed)
    with torch.no_grad():
        last = net.gs_head.scratch.output_conv2[-1]
        last.bias.zero_()
        # the depth offset (channel d_in - 1) small, so Gaussians stay in front of the cameras
        last.weight[GS_HEAD["output_dim"] - 2].mul_(0.1)
    return net.eval()


def architecture(s: mf.FixtureSpec) -> dict:
    arch = mf.architecture_dict(s)
    # GSDPT defaults written out where they decide the forward (as make_fixtures does for DPT)
    arch["gs_head"] = {**GS_HEAD, "patch_size": mf.PATCH_SIZE, "pos_embed": True, "activation": "linear",
                       "conf_activation": "sigmoid"}
    arch["gs_adapter"] = dict(GS_ADAPTER)
    return arch


def per_view(t: torch.Tensor, views: int) -> torch.Tensor:
    return t.detach().clone().reshape(1, views, *t.shape[1:]).contiguous()


def run_case(net, case: mf.Case) -> dict:
    g = torch.Generator().manual_seed(case.seed)
    image = mf.make_image(case, g)
    tensors = {"image": image}
    ext = ixt = None
    if case.with_pose:
        ext, ixt = mf.make_poses(case, g)
        tensors["extrinsics"], tensors["intrinsics"] = ext, ixt
    seen, handles = {}, []
    gs = net.gs_head
    for k, layer in enumerate(gs.resize_layers):
        handles.append(layer.register_forward_hook(
            lambda m, a, o, k=k: seen.__setitem__(f"gs_head.resize.{k}", per_view(o, case.views))))
    handles.append(gs.scratch.output_conv1.register_forward_hook(
        lambda m, a, o: seen.__setitem__("gs_head.output_conv1", per_view(o, case.views))))
    handles.append(gs.register_forward_hook(lambda m, a, o: seen.update(
        {"gs_head.raw_gs": o["raw_gs"].clone(), "gs_head.raw_gs_conf": o["raw_gs_conf"].clone()})))

    def align(ref, est, _orig=gs_adapter_module.batch_align_poses_umeyama):
        r, t, s = _orig(ref, est)
        seen["gs_adapter.pose_scale_unclamped"] = s.clone()
        return r, t, s

    torch.manual_seed(case.seed)
    with mf.patched(gs_adapter_module, "batch_align_poses_umeyama", align), torch.no_grad():
        out = net(image, ext, ixt, export_feat_layers=[], infer_gs=True, use_ray_pose=False,
                  ref_view_strategy="saddle_balanced")
    for h in handles:
        h.remove()
    if case.with_pose:
        s = float(seen.pop("gs_adapter.pose_scale_unclamped")[0])
        # the fixture must exercise the scale itself, not the clamp to [1/3, 3]
        assert 1 / 3 < s < 3, f"{case.name}: Umeyama scale {s} is clamped; change the seed"
        tensors["gs_adapter.pose_scale"] = torch.tensor([s], dtype=torch.float32)
    tensors.update({"depth": out["depth"], "depth_conf": out["depth_conf"],
                    "pred_extrinsics": out["extrinsics"], "pred_intrinsics": out["intrinsics"]})
    gsw = out["gaussians"]
    for f in ("means", "scales", "rotations", "harmonics", "opacities"):
        tensors[f"gs_{f}"] = getattr(gsw, f)
    tensors.update(seen)
    for k, v in tensors.items():
        assert v.dtype == torch.float32 and torch.isfinite(v).all(), k
    return {k: v.contiguous() for k, v in tensors.items()}


def write_reference_ply(t: dict, path: Path) -> None:
    """export_to_gs_ply as DepthAnything3.inference(export_format="gs_ply") calls it, on the
    case's stored Gaussians and depth (its Prediction.depth: (N, H, W) numpy)."""
    gaussians = Gaussians(means=t["gs_means"], scales=t["gs_scales"], rotations=t["gs_rotations"],
                          harmonics=t["gs_harmonics"], opacities=t["gs_opacities"])
    prediction = SimpleNamespace(gaussians=gaussians, depth=t["depth"][0].numpy())
    with tempfile.TemporaryDirectory() as tmp:
        export_to_gs_ply(prediction, tmp)
        shutil.copyfile(Path(tmp) / "gs_ply" / "0000.ply", path)


def sh_rotation_data() -> dict:
    """rotate_sh on random rotations, plus the identity and rotations whose rotated y axis is near
    +-y (e3nn's Euler angles are singular there), with random degree-2 coefficients."""
    g = torch.Generator().manual_seed(7)
    rots = [torch.eye(3, dtype=torch.float64)]
    for _ in range(6):
        rots.append(mf.random_rotation(g))
    for angle in (1e-3, 3.0):  # about x: y axis tilted by a little / almost flipped
        c, s = torch.cos(torch.tensor(angle, dtype=torch.float64)), torch.sin(torch.tensor(angle, dtype=torch.float64))
        rots.append(torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64))
    R = torch.stack(rots).float()
    coeffs = torch.randn(len(rots), 3, 9, generator=g)
    rotated = rotate_sh(coeffs, R[:, None])
    return {"rotations": R.contiguous(), "coefficients": coeffs.contiguous(), "rotated": rotated.contiguous()}


NESTED = "tiny-nested-gs"
NESTED_PRESET = "da3nested-giant-large"
NESTED_CASE = mf.Case("1view_42x56", views=1, height=42, width=56, seed=65)
METRIC_SEED = 7007


def write_nested(net, s: mf.FixtureSpec, root: Path) -> None:
    """The nested model: our GS any-view net + tiny-mono's metric net (own seed)."""
    metric = replace(mf.FIXTURES["tiny-mono"], param_seed=METRIC_SEED)
    torch.manual_seed(metric.param_seed)
    da3_metric = mf.build_net(metric)
    mf.redraw_parameters(da3_metric, metric.param_seed)
    nested = NestedDepthAnything3Net.__new__(NestedDepthAnything3Net)  # as make_nested_fixture.py
    torch.nn.Module.__init__(nested)
    nested.da3, nested.da3_metric = net, da3_metric.eval()
    nested.eval()
    wrapper = mf.build_wrapper(replace(s, name=NESTED, preset=NESTED_PRESET), nested)
    out = root / NESTED
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = dict(wrapper._hub_mixin_config or {})
    config["architecture"] = {"anyview": architecture(s), "metric": mf.architecture_dict(metric)}
    wrapper.save_pretrained(out, config=config)
    mf.canonicalize_header(out / "model.safetensors")
    (out / "README.md").unlink(missing_ok=True)
    g = torch.Generator().manual_seed(NESTED_CASE.seed)
    image = mf.make_image(NESTED_CASE, g)
    torch.manual_seed(NESTED_CASE.seed)
    with torch.no_grad():
        o = nested(image, infer_gs=True)
    t = {"image": image, "depth": o["depth"], "depth_conf": o["depth_conf"], "pred_extrinsics": o["extrinsics"],
         "pred_intrinsics": o["intrinsics"], "scale_factor": torch.tensor([o["scale_factor"]], dtype=torch.float32)}
    for f in ("means", "scales", "rotations", "harmonics", "opacities"):
        t[f"gs_{f}"] = getattr(o["gaussians"], f)
    assert abs(o["scale_factor"] - 1) > 0.1, "metric scale too close to 1 to tell scaled from unscaled"
    path = out / f"forward_{NESTED_CASE.name}.safetensors"
    save_file({k: v.float().contiguous() for k, v in t.items()}, str(path), metadata={"seed": str(NESTED_CASE.seed)})
    mf.canonicalize_header(path)
    print(f"{NESTED}/{path.name}: scale_factor {o['scale_factor']:.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=mf.DEFAULT_OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_float32_matmul_precision("highest")

    s = spec()
    net = build(s)
    wrapper = mf.build_wrapper(s, net)
    out = args.out / NAME
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = dict(wrapper._hub_mixin_config or {})
    config["architecture"] = architecture(s)
    wrapper.save_pretrained(out, config=config)
    mf.canonicalize_header(out / "model.safetensors")
    (out / "README.md").unlink(missing_ok=True)

    # The stored file alone must reproduce the outputs: reload into a fresh network.
    torch.manual_seed(0)
    fresh = build(s)
    state = load_file(str(out / "model.safetensors"))
    with mf.safe_open(str(out / "model.safetensors"), framework="pt") as f:
        for dropped, kept in (f.metadata() or {}).items():  # de-duplicated tied tensors
            state[dropped] = state[kept]
    fresh_wrapper = mf.build_wrapper(s, fresh)
    fresh_wrapper.load_state_dict(state, strict=True)

    for case in CASES:
        t = run_case(net, case)
        again = run_case(fresh, case)
        for k in t:
            assert torch.equal(t[k], again[k]), f"{case.name}: {k} differs after reloading the weights"
        meta = {"views": str(case.views), "height": str(case.height), "width": str(case.width),
                "seed": str(case.seed), "with_pose": str(case.with_pose).lower()}
        path = out / f"forward_{case.name}.safetensors"
        save_file(t, str(path), metadata=meta)
        mf.canonicalize_header(path)
        print(f"{path.name}: depth [{t['depth'].min():.3g}, {t['depth'].max():.3g}], "
              f"opacity [{t['gs_opacities'].min():.3g}, {t['gs_opacities'].max():.3g}]"
              + (f", pose scale {float(t['gs_adapter.pose_scale'][0]):.4f}" if case.with_pose else ""))
        if case.views != 2:
            write_reference_ply(t, out / f"gs_ply_{case.name}.ply")
    save_file(sh_rotation_data(), str(out / "sh_rotation.safetensors"))
    write_nested(net, s, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
