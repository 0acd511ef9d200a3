"""inference() and forward() run the CLI's code: the same inputs give bitwise the same outputs
as `da3 infer` and `da3 forward` (both from this build)."""

from __future__ import annotations

import numpy as np
import pytest

import da3cpp
from conftest import IMAGES, TINY, read_safetensors, run_cli, write_safetensors

THREE = [IMAGES / "a_land_640x420.jpg", IMAGES / "b_port_401x600.png", IMAGES / "c_port_210x300.jpg"]
KEYS = ("depth", "conf", "extrinsics", "intrinsics")


def assert_same(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape, what
    assert ours.dtype == theirs.dtype, what
    assert ours.tobytes() == theirs.tobytes(), f"{what}: not bitwise equal (max |diff| {np.abs(ours - theirs).max()})"


@pytest.mark.parametrize("posed", [False, True], ids=["unposed", "posed"])
def test_inference_equals_da3_infer_bitwise(tiny_model, tmp_path, posed):
    cli_out = tmp_path / "cli"
    args = ["infer", *THREE, "-m", TINY, "--process-res", "140", "-f", "npz,mini_npz,glb", "-o", cli_out, "-q"]
    ext = ixt = None
    if posed:
        ref = np.load(IMAGES.parent / "end_to_end" / "three_views_posed.npz")
        ext, ixt = ref["extrinsics_in"], ref["intrinsics_in"]
        np.savez(tmp_path / "poses.npz", extrinsics=ext, intrinsics=ixt)
        args += ["--poses", tmp_path / "poses.npz"]
    run_cli(*args)
    cli = np.load(cli_out / "results.npz")

    py_out = tmp_path / "py"
    p = tiny_model.inference([str(x) for x in THREE], extrinsics=ext, intrinsics=ixt, process_res=140,
                             export_dir=str(py_out), export_format="npz-mini_npz-glb")
    # The npz export stores depth and conf rounded as the reference's export does (np.round to
    # 6 / 2 decimals; mini_npz: depth to 8), so the raw arrays are compared through that rounding.
    mini = np.load(cli_out / "results_mini.npz")
    assert_same(np.round(p.depth, 8), mini["depth"], "depth (mini_npz, 8 decimals)")
    assert_same(np.round(p.depth, 6), cli["depth"], "depth (npz, 6 decimals)")
    assert_same(np.round(p.conf, 2), cli["conf"], "conf (npz, 2 decimals)")
    for k in ("extrinsics", "intrinsics"):
        assert_same(getattr(p, k), cli[k], k)
    assert_same(p.processed_images, cli["image"], "processed_images")
    # The exports are the CLI's files, byte for byte, at the official paths.
    for ours, theirs in ((py_out / "exports" / "npz" / "results.npz", cli_out / "results.npz"),
                         (py_out / "exports" / "mini_npz" / "results.npz", cli_out / "results_mini.npz"),
                         (py_out / "scene.glb", cli_out / "scene.glb")):
        a, b = np.load(ours) if ours.suffix == ".npz" else None, np.load(theirs) if theirs.suffix == ".npz" else None
        if a is not None:
            assert sorted(a.files) == sorted(b.files)
            for k in a.files:
                assert_same(a[k], b[k], f"{ours.name}:{k}")
        else:
            assert ours.read_bytes() == theirs.read_bytes(), f"{ours} differs from the CLI's {theirs}"


def test_inference_depth_is_the_networks_output_bitwise(tiny_model, tmp_path):
    """The raw depth of inference() is what `da3 forward` computes on the preprocessed input
    (no rounding in between, unlike the npz export)."""
    paths = [str(x) for x in THREE]
    x = da3cpp._core.preprocess(paths, 140, "upper_bound_resize")["image"]
    write_safetensors(tmp_path / "in.safetensors", {"image": x})
    run_cli("forward", "-m", TINY, "-i", tmp_path / "in.safetensors", "-o", tmp_path / "out.safetensors")
    cli = read_safetensors(tmp_path / "out.safetensors")
    p = tiny_model.inference(paths, process_res=140)
    assert_same(p.depth, cli["depth"][0], "depth")
    assert_same(p.conf, cli["depth_conf"][0], "conf")


def test_array_and_pil_inputs_equal_paths(tiny_model):
    """Arrays decoded as the library decodes files, and PIL images of lossless PNGs, give the
    same bytes as the paths."""
    paths = [str(IMAGES / "b_port_401x600.png"), str(IMAGES / "d_land_300x190.png")]
    by_path = tiny_model.inference(paths, process_res=112)
    arrays = [da3cpp._core.load_image(p) for p in paths]
    assert arrays[0].shape == (600, 401, 3) and arrays[0].dtype == np.uint8
    by_array = tiny_model.inference(arrays, process_res=112)
    for k in KEYS + ("processed_images",):
        assert_same(getattr(by_array, k), getattr(by_path, k), k)
    PIL = pytest.importorskip("PIL.Image")
    by_pil = tiny_model.inference([PIL.open(p) for p in paths], process_res=112)
    for k in KEYS + ("processed_images",):
        assert_same(getattr(by_pil, k), getattr(by_path, k), k)
    mixed = tiny_model.inference([paths[0], arrays[1]], process_res=112)
    assert_same(mixed.depth, by_path.depth, "mixed paths and arrays")


def test_forward_equals_da3_forward_bitwise(tiny_model, tmp_path):
    fx = read_safetensors(TINY / "forward_3view_posed_70x56.safetensors")
    inputs = {k: fx[k] for k in ("image", "extrinsics", "intrinsics")}
    write_safetensors(tmp_path / "in.safetensors", inputs)
    run_cli("forward", "-m", TINY, "-i", tmp_path / "in.safetensors", "-o", tmp_path / "out.safetensors",
            "--export-feat-layers", "2,5")
    cli = read_safetensors(tmp_path / "out.safetensors")
    ours = tiny_model.forward(inputs["image"], inputs["extrinsics"], inputs["intrinsics"], export_feat_layers=[2, 5])
    assert sorted(ours) == sorted(cli), "forward() names its outputs as `da3 forward` does"
    for k in cli:
        assert_same(ours[k], cli[k], k)
