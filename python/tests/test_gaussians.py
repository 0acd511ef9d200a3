"""infer_gs: the 3D Gaussian head from Python, on the tiny GS fixture (tests/fixtures/tiny-giant-gs,
tools/reference/make_gs_fixture.py): the raw Gaussians against the reference's, and the
inference() exports against `da3 infer --gaussians` byte for byte."""
import numpy as np
import pytest

import da3cpp
from conftest import FIXTURES, IMAGES, read_safetensors, rel_err, run_cli

GS = FIXTURES / "tiny-giant-gs"
FIELDS = ("means", "scales", "rotations", "harmonics", "opacities")


@pytest.fixture(scope="module")
def gs_model():
    return da3cpp.DepthAnything3.from_pretrained(str(GS))


def test_forward_gaussians_match_the_reference(gs_model):
    ref = read_safetensors(GS / "forward_2view_42x56.safetensors")
    out = gs_model.forward(ref["image"], infer_gs=True)
    for f in FIELDS:
        assert out["gs_" + f].shape == ref["gs_" + f].shape, f
        assert rel_err(out["gs_" + f], ref["gs_" + f]) < 1e-4, f
    assert "gs_means" not in gs_model.forward(ref["image"])


def test_inference_gaussians_and_exports_equal_the_cli(gs_model, tmp_path):
    images = [str(IMAGES / "c_port_210x300.jpg"), str(IMAGES / "k_texture_320x240.jpg")]
    p = gs_model.inference(images, infer_gs=True, process_res=84, export_dir=str(tmp_path / "py"),
                           export_format="gs_ply-splat-gs_video")
    assert isinstance(p.gaussians, da3cpp.Gaussians)
    n, h, w = p.depth.shape
    assert p.gaussians.means.shape == (1, n * h * w, 3)
    assert p.gaussians.harmonics.shape[:3] == (1, n * h * w, 3)
    assert p.gaussians.opacities.shape == (1, n * h * w)
    assert all(getattr(p.gaussians, f).dtype == np.float32 for f in FIELDS)
    assert gs_model.inference(images, process_res=84).gaussians is None
    r = run_cli("infer", *images, "-m", str(GS), "--process-res", "84", "-f", "gs_ply,splat,gs_video", "-q",
                "-o", str(tmp_path / "cli"))
    assert r.returncode == 0, r.stdout + r.stderr
    py, cli = tmp_path / "py", tmp_path / "cli"
    assert (py / "gs_ply" / "0000.ply").read_bytes() == (cli / "gs_ply" / "0000.ply").read_bytes()
    assert (py / "scene.splat").read_bytes() == (cli / "scene.splat").read_bytes()
    assert (py / "gs_video" / "0000.avi").read_bytes() == (cli / "gs_video" / "0000.avi").read_bytes()
    with pytest.raises(ValueError, match="infer_gs=True"):
        gs_model.inference(images, process_res=84, export_dir=str(tmp_path / "x"), export_format="gs_ply")
