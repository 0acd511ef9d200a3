#!/usr/bin/env python3
"""Generate the fixtures that da3.cpp's preprocessing and exports are tested against.

Runs the reference package's own code (depth-anything-3==0.1.1: InputProcessor, the
_add_processed_images arithmetic of api.py, export/npz.py, glb.py, colmap.py and
visualize_depth) on small procedurally drawn images and a small synthetic prediction, and
writes tests/fixtures/pipeline/:

  images/                 the input images (JPEG, PNG, grey/RGBA PNG, BMP, TIFF, WebP, a JPEG
                          with an EXIF rotation), drawn here so they can be redistributed
  preprocess.json         per image: size and CRC-32 of PIL's RGB decoding; per case: the
                          reference's processed size, intrinsics and the expected images; the
                          size/intrinsics arithmetic for many sizes and all four methods; the
                          normalisation and processed_images tables (3 x 256)
  expected/<case>_<v>.png the reference's processed image (uint8, recovered exactly from the
                          normalised tensor), lossless
  spectral_u8.json        matplotlib's Spectral table as visualize_depth turns it into uint8
  exports/prediction.npz  a synthetic Prediction (2 views, 14 x 21), stored (np.savez)
  exports/ref_*.npz       what the reference's exports hold for it (npz, mini_npz,
                          visualize_depth, world points), re-saved uncompressed
  exports/ref_scene.glb   the reference's export_to_glb output
  exports/colmap_ref/     the reference's export_to_colmap output, as text (pycolmap)
  end_to_end/<case>.npz   DepthAnything3.inference() (fp32: autocast switched off) with the
                          tiny-anyview fixture checkpoint on fixture images: the Prediction it
                          returns (unrounded) and its processed_images; end_to_end.json lists
                          the cases

Nothing here needs torch weights or the network. Usage, from the repository root:
  tools/reference/.venv/bin/python tools/reference/make_pipeline_fixtures.py [--out DIR]
Reruns write identical files (fixed seeds; PNG/JPEG encoders are deterministic).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

warnings.filterwarnings("ignore")
os.environ.setdefault("DA3_LOG_LEVEL", "ERROR")

import cv2  # noqa: E402
import matplotlib  # noqa: E402
import pycolmap  # noqa: E402
import torch  # noqa: E402

from depth_anything_3.specs import Prediction  # noqa: E402
from depth_anything_3.utils.export import glb as ref_glb  # noqa: E402
from depth_anything_3.utils.export.colmap import export_to_colmap  # noqa: E402
from depth_anything_3.utils.export.npz import export_to_mini_npz, export_to_npz  # noqa: E402
from depth_anything_3.utils.io.input_processor import InputProcessor  # noqa: E402
from depth_anything_3.utils.visualize import visualize_depth  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "pipeline"
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
METHODS = ["upper_bound_resize", "lower_bound_resize", "upper_bound_crop", "lower_bound_crop"]


# --------------------------------------------------------------------------------------------
# Images


def draw(w: int, h: int, seed: int, texture: float) -> np.ndarray:
    """A photo-like test card: smooth gradients, hard-edged shapes, a checkerboard and (for
    the image that tests JPEG decoding; it would bloat the expected outputs) fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    s = max(w, h)
    img = np.stack(
        [
            128 + 90 * np.sin(2 * np.pi * (x / s * 1.3 + 0.1 * seed)),
            128 + 90 * np.cos(2 * np.pi * (y / s * 1.7)),
            255 * (x / w) * (y / h),
        ],
        axis=-1,
    )
    img += texture * np.sin(x * 0.9)[..., None] * np.sin(y * 1.1)[..., None]
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.2) * s
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    x0, y0 = int(w * 0.6), int(h * 0.1)
    board = ((x // 6 + y // 6) % 2 == 0) & (x >= x0) & (x < x0 + w // 4) & (y >= y0) & (y < y0 + h // 4)
    img[board] = [250, 250, 250]
    img[(np.abs(x - y * w / h) < 1.0)] = [10, 10, 10]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_images(img_dir: Path) -> list[str]:
    img_dir.mkdir(parents=True, exist_ok=True)
    specs = [
        ("a_land_640x420.jpg", 640, 420, "RGB"),
        ("b_port_401x600.png", 401, 600, "RGB"),
        ("c_port_210x300.jpg", 210, 300, "RGB"),
        ("d_land_300x190.png", 300, 190, "RGB"),
        ("e_gray_56x42.png", 56, 42, "L"),
        ("f_rgba_56x42.png", 56, 42, "RGBA"),
        ("g_bmp_56x42.bmp", 56, 42, "RGB"),
        ("h_tiff_56x42.tif", 56, 42, "RGB"),
        ("i_webp_56x42.webp", 56, 42, "RGB"),
        ("j_exif_rot_56x42.jpg", 56, 42, "RGB"),
        ("k_texture_320x240.jpg", 320, 240, "RGB"),
    ]
    names = []
    for seed, (name, w, h, mode) in enumerate(specs):
        rgb = draw(w, h, seed, 12.0 if "texture" in name else 0.0)
        path = img_dir / name
        if mode == "L":
            Image.fromarray(rgb).convert("L").save(path)
        elif mode == "RGBA":
            alpha = (np.arange(w)[None, :].repeat(h, 0) * 255 // w).astype(np.uint8)
            Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
        elif name.endswith(".jpg"):
            im = Image.fromarray(rgb)
            if "exif" in name:
                exif = Image.Exif()
                exif[0x0112] = 6  # orientation: rotate 90 CW to display; PIL.open ignores it
                im.save(path, quality=90, exif=exif.tobytes())
            else:
                im.save(path, quality=90)
        elif name.endswith(".webp"):
            Image.fromarray(rgb).save(path, lossless=True)
        elif name.endswith(".tif"):
            Image.fromarray(rgb).save(path, compression="tiff_deflate")
        else:
            Image.fromarray(rgb).save(path)
        names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# Preprocessing


def torch_tables():
    """Normalised value of each level per channel (torchvision ToTensor + Normalize), and
    api.py's way back to uint8 (_add_processed_images)."""
    levels = np.arange(256, dtype=np.uint8)
    img = Image.fromarray(np.stack([levels, levels, levels], -1)[None].repeat(1, 0))  # 1 x 256
    t = InputProcessor()._normalize_image(img)  # (3, 1, 256) float32
    norm = t[:, 0, :].numpy()
    back = np.clip(t.permute(1, 2, 0).numpy()[0] * STD + MEAN, 0, 1)
    back = (back * 255).astype(np.uint8).T  # (3, 256)
    return norm, back


def to_levels(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) normalised -> (H, W, 3) uint8; the inversion is exact to ~1e-5 of a level."""
    v = (t.permute(1, 2, 0).numpy().astype(np.float64) * STD + MEAN) * 255
    r = np.round(v)
    assert np.abs(v - r).max() < 1e-3, "normalised tensor does not invert to integer levels"
    return r.astype(np.uint8)


def make_K(w, h):
    return np.array([[0.9 * w, 0, w / 2 + 3.25], [0, 0.95 * w, h / 2 - 1.5], [0, 0, 1]], np.float64)


def preprocess_cases(img_dir: Path, out: Path):
    proc = InputProcessor()
    cases = [
        ("a_ubr", ["a_land_640x420.jpg"], 504, "upper_bound_resize"),
        ("b_ubr", ["b_port_401x600.png"], 504, "upper_bound_resize"),
        ("c_ubr", ["c_port_210x300.jpg"], 504, "upper_bound_resize"),
        ("d_ubr", ["d_land_300x190.png"], 504, "upper_bound_resize"),
        ("mixed", ["a_land_640x420.jpg", "b_port_401x600.png"], 504, "upper_bound_resize"),
        ("a_lbr", ["a_land_640x420.jpg"], 252, "lower_bound_resize"),
        ("c_lbc", ["c_port_210x300.jpg"], 280, "lower_bound_crop"),
        ("d_ubc", ["d_land_300x190.png"], 280, "upper_bound_crop"),
        ("k_ubr", ["k_texture_320x240.jpg"], 112, "upper_bound_resize"),
        (
            "formats",
            ["e_gray_56x42.png", "f_rgba_56x42.png", "g_bmp_56x42.bmp", "h_tiff_56x42.tif",
             "i_webp_56x42.webp", "j_exif_rot_56x42.jpg"],
            112,
            "upper_bound_resize",
        ),
    ]
    exp_dir = out / "expected"
    exp_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for name, files, res, method in cases:
        paths = [str(img_dir / f) for f in files]
        sizes = [Image.open(p).size for p in paths]
        Ks = np.stack([make_K(w, h) for w, h in sizes]).astype(np.float32)
        Es = np.stack([np.eye(4, dtype=np.float32) for _ in paths])
        for i in range(len(paths)):
            Es[i, :3, 3] = [0.1 * i, -0.2, 0.3]
        tensor, ex_out, ix_out = proc(image=paths, extrinsics=Es, intrinsics=Ks, process_res=res,
                                      process_res_method=method, num_workers=1)
        n, _, H, W = tensor.shape
        expected = []
        for v in range(n):
            levels = to_levels(tensor[v])
            fname = f"{name}_{v}.png"
            Image.fromarray(levels).save(exp_dir / fname, optimize=True)
            expected.append(fname)
        result.append({
            "name": name, "images": files, "process_res": res, "method": method,
            "height": int(H), "width": int(W),
            "intrinsics_in": Ks.tolist(), "extrinsics_in": Es.tolist(),
            "intrinsics_out": ix_out.numpy().tolist(), "extrinsics_out": ex_out.numpy().tolist(),
            "expected": expected,
        })
    return result


def geometry_table():
    """Processed size and intrinsics for many source sizes, each method, two resolutions."""
    proc = InputProcessor()
    sizes = [(640, 420), (401, 600), (210, 300), (300, 190), (504, 378), (504, 504), (14, 14),
             (1000, 30), (30, 700), (1920, 1080), (1080, 1920), (4032, 3024), (333, 333), (505, 17),
             (250, 251), (57, 1000)]
    rows = []
    for w, h in sizes:
        img = Image.new("RGB", (w, h), (100, 150, 200))
        K = make_K(w, h).astype(np.float32)
        for res in (504, 280):
            for method in METHODS:
                _, (Hh, Ww), K_out, _ = proc._process_one(img, None, K, process_res=res,
                                                          process_res_method=method)
                rows.append({"width": w, "height": h, "process_res": res, "method": method,
                             "out_width": int(Ww), "out_height": int(Hh),
                             "intrinsics_in": K.tolist(), "intrinsics_out": np.asarray(K_out).tolist()})
    return rows


# --------------------------------------------------------------------------------------------
# Exports


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def synthetic_prediction(rng, img_dir: Path):
    N, H, W = 2, 14, 21
    y, x = np.mgrid[0:H, 0:W]
    depth = np.stack([1.0 + 0.05 * x + 0.03 * y + 0.3 * v + 0.1 * rng.random((H, W)) for v in range(N)])
    conf = 1.0 + 2.0 * rng.random((N, H, W))
    ext = np.zeros((N, 3, 4))
    for v in range(N):
        ext[v, :, :3] = random_rotation(rng)
        ext[v, :, 3] = rng.normal(size=3) * 0.5
    K = np.stack([np.array([[18.0 + v, 0, 10.3], [0, 18.5 + v, 6.8], [0, 0, 1]]) for v in range(N)])
    images = rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8)
    pred = Prediction(depth=depth.astype(np.float32), is_metric=0, conf=conf.astype(np.float32),
                      extrinsics=ext.astype(np.float32), intrinsics=K.astype(np.float32),
                      processed_images=images)
    # Source images for colmap (it opens them for their size): twice the processed size.
    paths = []
    for v in range(N):
        p = img_dir / f"view{v}.png"
        Image.fromarray(np.zeros((2 * H, 2 * W, 3), np.uint8)).save(p)
        paths.append(str(p))
    return pred, paths


def glb_threshold(pred):
    return ref_glb.get_conf_thresh(pred, None, 1.05, 40.0, 90.0)


def exports(out: Path):
    exp = out / "exports"
    exp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pred, paths = synthetic_prediction(rng, tmp)
        np.savez(exp / "prediction.npz", depth=pred.depth, conf=pred.conf, extrinsics=pred.extrinsics,
                 intrinsics=pred.intrinsics, processed_images=pred.processed_images,
                 orig_size=np.array([[2 * 21, 2 * 14]] * 2, np.int64))

        # Both are @async_call: they run on a thread of their own; wait for it.
        before = set(threading.enumerate())
        export_to_npz(copy.deepcopy(pred), str(tmp))
        export_to_mini_npz(copy.deepcopy(pred), str(tmp))
        for t in set(threading.enumerate()) - before:
            t.join()
        for kind in ("npz", "mini_npz"):
            with np.load(tmp / "exports" / kind / "results.npz") as z:
                np.savez(exp / f"ref_{kind}.npz", **{k: z[k] for k in z.files})

        # visualize_depth on the prediction's views and on a map with invalid pixels.
        special = pred.depth[0].copy()
        special[0, :5] = 0.0
        special[1, :3] = -1.0
        special[2, 0] = np.nan
        vis = np.stack([visualize_depth(d) for d in pred.depth])
        np.savez(exp / "ref_depth_vis.npz", vis=vis, special_depth=special,
                 special_vis=visualize_depth(special))

        # World points with the glb threshold (the ply export) and the colmap threshold.
        thr = glb_threshold(pred)
        pts, cols = ref_glb._depths_to_world_points_with_colors(
            pred.depth, pred.intrinsics, pred.extrinsics, pred.processed_images, pred.conf, thr)
        np.savez(exp / "ref_points.npz", points=pts, colors=cols, glb_threshold=np.float64(thr),
                 colmap_threshold=np.float64(np.percentile(pred.conf, 40.0)))

        ref_glb.export_to_glb(copy.deepcopy(pred), str(tmp / "glb"), export_depth_vis=False)
        shutil.copy(tmp / "glb" / "scene.glb", exp / "ref_scene.glb")

        (tmp / "colmap").mkdir()
        export_to_colmap(copy.deepcopy(pred), str(tmp / "colmap"), image_paths=paths)
        rec = pycolmap.Reconstruction(str(tmp / "colmap"))
        text_dir = exp / "colmap_ref"
        if text_dir.exists():
            shutil.rmtree(text_dir)
        text_dir.mkdir()
        rec.write_text(str(text_dir))
        for extra in ("rigs.txt", "frames.txt"):  # pycolmap 3.12+ files, not needed by the test
            (text_dir / extra).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# End to end: DepthAnything3.inference() with a fixture checkpoint


def end_to_end(img_dir: Path, out: Path):
    import contextlib
    from safetensors import safe_open
    from safetensors.torch import load_file

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_fixtures as mf  # builds the tiny networks the checkpoints were saved from

    spec = mf.FIXTURES["tiny-anyview"]
    ckpt = REPO_ROOT / "tests" / "fixtures" / "tiny-anyview" / "model.safetensors"
    torch.manual_seed(0)
    net = mf.build_net(spec)
    wrapper = mf.build_wrapper(spec, net)
    state = load_file(str(ckpt))
    with safe_open(str(ckpt), framework="pt") as f:
        for dropped, kept in (f.metadata() or {}).items():
            if kept in state:
                state[dropped] = state[kept]
    wrapper.load_state_dict(state, strict=True)

    cases = [
        # 3 views of mixed size and orientation (centre-cropped to one size; >= 3 views
        # without poses also runs the reference-view selection), JPEG and PNG.
        ("three_views", ["a_land_640x420.jpg", "b_port_401x600.png", "c_port_210x300.jpg"], 140),
        ("one_view", ["d_land_300x190.png"], 112),
        # Input poses: normalised for the network, then the output aligned back to them.
        ("three_views_posed", ["a_land_640x420.jpg", "b_port_401x600.png", "c_port_210x300.jpg"], 140),
    ]
    e2e = out / "end_to_end"
    e2e.mkdir(parents=True, exist_ok=True)
    listing = []
    # DepthAnything3.forward autocasts to float16 on CPU; the comparison is in fp32.
    no_autocast = lambda *a, **k: contextlib.nullcontext()  # noqa: E731
    with mf.patched(torch, "autocast", no_autocast):
        for name, files, res in cases:
            poses = {}
            if name.endswith("posed"):
                rng = np.random.default_rng(11)
                E = np.tile(np.eye(4), (len(files), 1, 1))
                for v in range(len(files)):
                    E[v, :3, :3] = random_rotation(rng)
                    E[v, :3, 3] = rng.normal(size=3) * 2.0
                sizes = [Image.open(img_dir / f).size for f in files]
                poses = {"extrinsics": E.astype(np.float32),
                         "intrinsics": np.stack([make_K(w, h) for w, h in sizes]).astype(np.float32)}
            pred = wrapper.inference([str(img_dir / f) for f in files], process_res=res, **poses)
            inputs = {f"{k}_in": v for k, v in poses.items()}
            np.savez(e2e / f"{name}.npz", depth=pred.depth, conf=pred.conf, extrinsics=pred.extrinsics,
                     intrinsics=pred.intrinsics, processed_images=pred.processed_images, **inputs)
            listing.append({"name": name, "images": files, "process_res": res, "posed": bool(poses),
                            "method": "upper_bound_resize", "model": "tiny-anyview"})
    (out / "end_to_end.json").write_text(json.dumps(listing, indent=1) + "\n")


# --------------------------------------------------------------------------------------------


def crc_of(arr: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(arr).tobytes()) & 0xFFFFFFFF


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    img_dir = out / "images"
    names = write_images(img_dir)
    decode = {}
    for n in names:
        rgb = np.asarray(Image.open(img_dir / n).convert("RGB"))
        decode[n] = {"width": rgb.shape[1], "height": rgb.shape[0], "crc32": crc_of(rgb)}
    norm, back = torch_tables()
    doc = {
        "generator": {"script": "tools/reference/make_pipeline_fixtures.py",
                      "opencv_python": cv2.__version__, "pillow": Image.__version__,
                      "torch": torch.__version__, "numpy": np.__version__},
        "decode": decode,
        "normalize": {"normalized": norm.tolist(), "round_trip": back.tolist()},
        "cases": preprocess_cases(img_dir, out),
        "geometry": geometry_table(),
    }
    (out / "preprocess.json").write_text(json.dumps(doc, indent=1) + "\n")

    cm = matplotlib.colormaps["Spectral"]
    cm(0.5)  # builds the lookup table
    spectral = (cm._lut[:256, :3] * 255).astype(np.uint8)
    (out / "spectral_u8.json").write_text(json.dumps(spectral.tolist()) + "\n")

    exports(out)
    end_to_end(img_dir, out)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    sys.exit(main())
