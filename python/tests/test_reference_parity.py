"""da3cpp against the official depth_anything_3 (0.1.1, torch, fp32 with the CPU autocast off):
the fixtures written by tools/reference/make_pipeline_fixtures.py and make_fixtures.py, the
same ones the C++ suite checks (tests/test_pipeline_end_to_end.cpp, test_model.cpp)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import da3cpp
from conftest import FIXTURES, IMAGES, read_safetensors, rel_err

CASES = json.loads((FIXTURES / "pipeline" / "end_to_end.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_inference_matches_official_inference(case):
    model = da3cpp.DepthAnything3.from_pretrained(str(FIXTURES / case["model"]))
    ref = np.load(FIXTURES / "pipeline" / "end_to_end" / f"{case['name']}.npz")
    kwargs = {}
    if case["posed"]:
        kwargs = dict(extrinsics=ref["extrinsics_in"], intrinsics=ref["intrinsics_in"])
    p = model.inference([str(IMAGES / i) for i in case["images"]], process_res=case["process_res"],
                        process_res_method=case["method"], **kwargs)
    for key in ("depth", "conf", "extrinsics", "intrinsics"):
        ours = getattr(p, key)
        assert ours.shape == ref[key].shape, key
        assert ours.dtype == np.float32, key
        err = rel_err(ours, ref[key])
        print(f"{case['name']:18s} {key:10s} relative error {err:.2e}")
        assert err < 1e-4, f"{key}: relative error {err:.2e} against the official inference()"
    assert p.processed_images.shape == ref["processed_images"].shape
    assert p.processed_images.dtype == np.uint8
    diff = np.abs(p.processed_images.astype(int) - ref["processed_images"].astype(int))
    assert diff.max() <= 1, "processed images within one level (OpenCV 4.6 vs opencv-python 4.11 cubic)"


FORWARD = [
    ("tiny-anyview", "forward_1view_112x84", {}),
    ("tiny-anyview", "forward_3view_posed_70x56", {"posed": True}),
    ("tiny-anyview", "forward_4view_56x70", {}),
    ("tiny-mono", "forward_1view_70x70", {}),
    ("tiny-nested", "forward_2view_70x56", {}),
    ("tiny-giant-like", "forward_3view_56x70", {}),
]


@pytest.mark.parametrize("model_dir,name,opts", FORWARD, ids=[f"{m}/{n}" for m, n, _ in FORWARD])
def test_forward_matches_official_network(model_dir, name, opts):
    fx = read_safetensors(FIXTURES / model_dir / f"{name}.safetensors")
    model = da3cpp.DepthAnything3.from_pretrained(str(FIXTURES / model_dir))
    ext = fx["extrinsics"] if opts.get("posed") else None
    ixt = fx["intrinsics"] if opts.get("posed") else None
    out = model.forward(fx["image"], ext, ixt)
    # The reference's names for the network's outputs (make_fixtures.py) -> ours (`da3 forward`).
    pairs = {"depth": "depth", "depth_conf": "depth_conf", "pred_extrinsics": "extrinsics",
             "pred_intrinsics": "intrinsics", "sky": "sky", "scale_factor": "scale_factor"}
    compared = 0
    for ref_name, our_name in pairs.items():
        if ref_name not in fx:
            continue
        assert our_name in out, f"{our_name} missing from forward() of {model_dir}"
        assert out[our_name].shape == fx[ref_name].shape, our_name
        err = rel_err(out[our_name], fx[ref_name])
        print(f"{model_dir}/{name} {our_name}: relative error {err:.2e}")
        assert err < 1e-4, f"{our_name}: relative error {err:.2e}"
        compared += 1
    assert compared >= 1
