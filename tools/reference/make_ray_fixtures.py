#!/usr/bin/env python3
"""Fixtures for the ray-based pose path (use_ray_pose), beyond what make_fixtures.py stores.

The network fixture tiny-anyview/forward_2view_raypose_56x70 holds the reference's float32
result for random-weight rays. Two things it cannot show, written here:

1. ray_pose_f64_2view.safetensors: the same rays and the same stored RANSAC draw run through
   the reference's own ray_utils functions in float64, so a port computing in double can be
   compared tightly (the float32 reference is only good to ~1e-5 here: RANSAC and the QL
   factorisation amplify its rounding). Two reference steps cannot take float64 and are
   replaced by their float64 equivalents: unproject_depth builds the image-plane grid with a
   float32 linspace (replaced by the exact pixel centres (2i+1)/n - 1), and ql_decomposition
   multiplies by a float32 permutation matrix (replaced by the same steps with a float64 one).
   Intermediates: the refitted homography, rotation, translation, focal, principal point.

2. ray_pose_synthetic_2view.safetensors: rays from known cameras (with noise, 15 % outliers
   and a few rays parallel to the image plane), on which RANSAC is well posed: the reference
   gives the same camera for every random draw. The random-weight rays of the network fixture
   fit no camera, and there the reference's own result changes completely from one torch seed
   to the next, so only here can a port's own RNG be compared with the reference. Stored: the
   inputs, the true cameras, the reference's float32 result for seed 0 with its draw, and in
   the metadata the largest difference between the reference's results for seeds 0..19.

Usage (repository root, venv of setup_env.sh):
  tools/reference/.venv/bin/python tools/reference/make_ray_fixtures.py           # write
  tools/reference/.venv/bin/python tools/reference/make_ray_fixtures.py --check   # compare
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import canonicalize_header, patched  # noqa: E402  (also quiets the package)

import depth_anything_3.utils.ray_utils as ray_utils  # noqa: E402
from depth_anything_3.model.da3 import DepthAnything3Net  # noqa: E402
from depth_anything_3.utils.geometry import affine_inverse  # noqa: E402
from addict import Dict  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "tiny-anyview"
NET_FIXTURE = FIXTURE_DIR / "forward_2view_raypose_56x70.safetensors"


def exact_unproject_depth(depth, intrinsics, c2w=None, ixt_normalized=False, num_patches_x=None,
                          num_patches_y=None):
    """unproject_depth for camray_to_caminfo's only use (identity camera on a 2x2 image, depth 1,
    no c2w), with the pixel centres computed exactly in the depth's dtype."""
    assert ixt_normalized and c2w is None
    b, v, h, w, _ = depth.shape
    xs = (2 * torch.arange(w, dtype=depth.dtype) + 1) / w - 1
    ys = (2 * torch.arange(h, dtype=depth.dtype) + 1) / h - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1)
    return pts.expand(b, v, h, w, 3) * depth


def ql_decomposition_f64(A):
    """ray_utils.ql_decomposition with its permutation matrix in A's dtype (the reference
    hard-codes float32 there, so float64 input fails)."""
    P = torch.tensor([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=A.dtype)
    Q_tilde, R_tilde = torch.linalg.qr(A @ P)
    Q = Q_tilde @ P
    L = P @ R_tilde @ P
    d = torch.sign(torch.diag(L))
    return Q * d[None, :], L * d[:, None]


def reference_pose(ray, conf, H, W, sample_idx=None, seed=None, f64=False):
    """DepthAnything3Net._process_ray_pose_estimation on (ray, conf). The RANSAC draw is either
    `sample_idx` or torch.randperm after torch.manual_seed(seed). Returns the outputs and the
    recorded intermediates."""
    rec = {}

    def params(N, device, _orig=ray_utils.get_params_for_ransac):
        n_iter, k, n_sample, idx = _orig(N, device)
        if sample_idx is not None:
            idx = sample_idx
        rec["sample_idx"] = idx
        return n_iter, k, n_sample, idx

    def ransac(*args, _orig=ray_utils.ransac_find_homography_weighted_fast_batch, **kw):
        h = _orig(*args, **kw)
        rec.setdefault("homography", []).append(h.clone())
        return h

    def caminfo(*args, _orig=ray_utils.camray_to_caminfo, **kw):
        out = _orig(*args, **kw)
        rec["rotation"], rec["translation"], rec["focal"], rec["principal"] = out
        return out

    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(ray_utils, "get_params_for_ransac", params))
        stack.enter_context(patched(ray_utils, "ransac_find_homography_weighted_fast_batch", ransac))
        stack.enter_context(patched(ray_utils, "camray_to_caminfo", caminfo))
        if f64:
            stack.enter_context(patched(ray_utils, "unproject_depth", exact_unproject_depth))
            stack.enter_context(patched(ray_utils, "ql_decomposition", ql_decomposition_f64))
        if seed is not None:
            torch.manual_seed(seed)
        ray, conf = ray.clone(), conf.clone()  # the reference zeroes confidences in place
        if not f64:
            out = DepthAnything3Net._process_ray_pose_estimation(None, Dict(ray=ray, ray_conf=conf), H, W)
            extrinsics, intrinsics = out.extrinsics, out.intrinsics
        else:
            # The same lines as _process_ray_pose_estimation, whose intrinsics tensor is a float32
            # torch.eye: built in float64 here.
            c2w, focal, pp = ray_utils.get_extrinsic_from_camray(ray, conf, ray.shape[-3], ray.shape[-2])
            extrinsics = affine_inverse(c2w)[:, :, :3, :]
            intrinsics = torch.eye(3, dtype=ray.dtype)[None, None].repeat(*extrinsics.shape[:2], 1, 1)
            intrinsics[:, :, 0, 0] = focal[:, :, 0] / 2 * W
            intrinsics[:, :, 1, 1] = focal[:, :, 1] / 2 * H
            intrinsics[:, :, 0, 2] = pp[:, :, 0] * W * 0.5
            intrinsics[:, :, 1, 2] = pp[:, :, 1] * H * 0.5
    rec["homography"] = torch.cat(rec["homography"], dim=0)
    return extrinsics, intrinsics, rec


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def make_f64(out_dir: Path) -> None:
    t = load_file(str(NET_FIXTURE))
    ray, conf, idx = t["head.ray"], t["head.ray_conf"], t["ray_pose.ransac_sample_idx"]
    H, W = t["image"].shape[-2:]
    ext, ixt, rec = reference_pose(ray.double(), conf.double(), H, W, sample_idx=idx, f64=True)
    # Sanity: float64 must land within the float32 reference's own noise (see README).
    e_err, k_err = rel(ext, t["pred_extrinsics"]), rel(ixt, t["pred_intrinsics"])
    assert e_err < 5e-5 and k_err < 2e-4, (e_err, k_err)
    views = ray.shape[0] * ray.shape[1]
    tensors = {
        "pred_extrinsics": ext, "pred_intrinsics": ixt,
        "homography": rec["homography"],  # after RANSAC, before the det > 0 sign flip
        "rotation": rec["rotation"].reshape(views, 3, 3),
        "translation": rec["translation"].reshape(views, 3),
        "focal": rec["focal"].reshape(views, 2),
        "principal": rec["principal"].reshape(views, 2),
    }
    meta = {"source": NET_FIXTURE.name, "height": str(H), "width": str(W),
            "vs_float32_reference": f"extrinsics {e_err:.3g}, intrinsics {k_err:.3g} (relative, norm-wise)"}
    write(out_dir / "ray_pose_f64_2view.safetensors", tensors, meta)
    print(f"ray_pose_f64_2view: float64 vs float32 reference: extrinsics {e_err:.3g}, intrinsics {k_err:.3g}")


def random_rotation(g, max_angle):
    axis = torch.randn(3, generator=g, dtype=torch.float64)
    axis = axis / axis.norm()
    angle = (torch.rand(1, generator=g, dtype=torch.float64).item() * 2 - 1) * max_angle
    K = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def synthetic_view(g, h, w):
    """Rays d = R L (x, y, 1) of a camera in the reference's parametrisation (L lower triangular,
    L[2][2] = 1, focal = 1/diag, principal point = L[2][:2] + 1), centre c. 15 % outliers point
    far from their true direction (>= 0.6 in the z = 1 plane, threshold 0.2); 4 rays lie almost
    in the image plane (|z| < 1e-4, masked by the reference)."""
    R = random_rotation(g, math.radians(35))
    fx, fy = 0.8 + 0.6 * torch.rand(2, generator=g, dtype=torch.float64)
    px, py = 1 + 0.2 * (torch.rand(2, generator=g, dtype=torch.float64) - 0.5)
    L = torch.tensor([[1 / fx, 0, 0], [0.05, 1 / fy, 0], [px - 1, py - 1, 1]], dtype=torch.float64)
    centre = torch.randn(3, generator=g, dtype=torch.float64)
    xs = (2 * torch.arange(w, dtype=torch.float64) + 1) / w - 1
    ys = (2 * torch.arange(h, dtype=torch.float64) + 1) / h - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    plane = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)
    n = plane.shape[0]
    d = plane @ (R @ L).T
    d = d + 1e-3 * torch.randn(n, 3, generator=g, dtype=torch.float64) * d.norm(dim=1, keepdim=True)
    outlier = torch.rand(n, generator=g, dtype=torch.float64) < 0.15
    for i in torch.nonzero(outlier).flatten().tolist():
        true_xy = d[i, :2] / d[i, 2]
        while True:
            cand = torch.randn(3, generator=g, dtype=torch.float64)
            cand[2] = cand[2].abs() + 0.3
            if (cand[:2] / cand[2] - true_xy).norm() >= 0.6:
                d[i] = cand
                break
    flat = torch.nonzero(~outlier).flatten()[:4]
    d[flat, 2] = 5e-5 * torch.sign(torch.randn(4, generator=g, dtype=torch.float64))
    d = d * (0.5 + 1.5 * torch.rand(n, 1, generator=g, dtype=torch.float64))  # rays are not normalised
    origins = centre + 1e-3 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    conf = 1.5 + 2.5 * torch.rand(n, generator=g, dtype=torch.float64)
    ray = torch.cat([d, origins], dim=1).reshape(h, w, 6)
    return ray, conf.reshape(h, w), R, L, centre


def make_synthetic(out_dir: Path) -> None:
    g = torch.Generator().manual_seed(20240611)
    h, w, H, W = 24, 32, 42, 56
    views = [synthetic_view(g, h, w) for _ in range(2)]
    ray = torch.stack([v[0] for v in views])[None].float()
    conf = torch.stack([v[1] for v in views])[None].float()
    ext, ixt, rec = reference_pose(ray, conf, H, W, seed=0)
    # How much the reference itself moves with the RANSAC draw: seeds 0..19.
    e_spread = k_spread = 0.0
    for seed in range(1, 20):
        e2, k2, _ = reference_pose(ray, conf, H, W, seed=seed)
        e_spread, k_spread = max(e_spread, rel(e2, ext)), max(k_spread, rel(k2, ixt))
    # The draw must not matter here, else this fixture cannot test a port's own generator.
    assert e_spread < 1e-5 and k_spread < 1e-5, (e_spread, k_spread)
    tensors = {
        "ray": ray, "ray_conf": conf,
        "ransac_sample_idx": rec["sample_idx"],
        "pred_extrinsics": ext, "pred_intrinsics": ixt,
        "true_rotation": torch.stack([v[2] for v in views]),  # camera-to-world
        "true_L": torch.stack([v[3] for v in views]),
        "true_centre": torch.stack([v[4] for v in views]),
    }
    meta = {"height": str(H), "width": str(W), "seed": "0",
            "seed_spread_extrinsics": f"{e_spread:.3g}", "seed_spread_intrinsics": f"{k_spread:.3g}"}
    write(out_dir / "ray_pose_synthetic_2view.safetensors", tensors, meta)
    print(f"ray_pose_synthetic_2view: reference spread over seeds 0..19: extrinsics {e_spread:.3g}, "
          f"intrinsics {k_spread:.3g}")


def write(path: Path, tensors: dict, meta: dict) -> None:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    canonicalize_header(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=FIXTURE_DIR)
    ap.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare bytes")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if not args.check:
        make_f64(args.out)
        make_synthetic(args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        make_f64(Path(tmp))
        make_synthetic(Path(tmp))
        bad = [p.name for p in sorted(Path(tmp).iterdir())
               if (FIXTURE_DIR / p.name).read_bytes() != p.read_bytes()]
    print("identical" if not bad else f"DIFFERENT: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
