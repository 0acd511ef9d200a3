"""C++ errors arrive as the fitting Python exception, carrying libda3's message."""

from __future__ import annotations

import numpy as np
import pytest

import da3cpp
from conftest import IMAGES, TINY


def test_missing_model_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        da3cpp.DepthAnything3.from_pretrained(str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in str(e.value)


def test_directory_without_checkpoint_is_file_not_found(tiny_copy):
    (tiny_copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        da3cpp.DepthAnything3.from_pretrained(str(tiny_copy))


def test_hub_id_is_not_downloaded():
    with pytest.raises(FileNotFoundError, match="da3 pull DA3-SMALL"):
        da3cpp.DepthAnything3.from_pretrained("depth-anything/DA3-SMALL")


def test_corrupt_checkpoint_is_runtime_error_with_the_library_message(tiny_copy):
    f = tiny_copy / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])  # truncated: the header promises more than the file holds
    with pytest.raises(RuntimeError) as e:
        da3cpp.DepthAnything3.from_pretrained(str(tiny_copy))
    assert "model.safetensors" in str(e.value)
    assert not isinstance(e.value, (FileNotFoundError, ValueError))


def test_missing_image_is_file_not_found(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        tiny_model.inference([str(IMAGES / "d_land_300x190.png"), str(tmp_path / "missing.jpg")], process_res=56)
    assert "missing.jpg" in str(e.value)


def test_corrupt_image_is_value_error(tiny_model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    with pytest.raises(ValueError) as e:
        tiny_model.inference([str(bad)], process_res=56)
    assert "bad.jpg" in str(e.value)


def test_bad_arguments_are_value_errors(tiny_model):
    img = [str(IMAGES / "d_land_300x190.png")]
    with pytest.raises(ValueError, match="upper_bound_resize"):  # the library lists the known names
        tiny_model.inference(img, process_res_method="nearest")
    with pytest.raises(ValueError, match="process_res"):
        tiny_model.inference(img, process_res=5000)
    with pytest.raises(ValueError, match="Unsupported export format"):
        tiny_model.inference(img, process_res=56, export_dir="/tmp/x", export_format="mp4")
    with pytest.raises(ValueError, match="ref"):
        tiny_model.inference(img, process_res=56, ref_view_strategy="best")
    with pytest.raises(ValueError, match="list of images"):
        tiny_model.inference(img[0])
    with pytest.raises(ValueError, match="uint8"):
        tiny_model.inference([np.zeros((20, 20, 3), np.float32)])
    with pytest.raises(ValueError, match="attention backend"):
        tiny_model.inference(img, process_res=56, attention_backend="fast")
    with pytest.raises(ValueError):
        da3cpp.DepthAnything3.from_pretrained(str(TINY), device="tpu")
    with pytest.raises(ValueError):
        da3cpp.DepthAnything3.from_pretrained(str(TINY), precision="int8")


def test_bad_forward_inputs_are_value_errors_with_the_library_message(tiny_model):
    with pytest.raises(ValueError, match=r"\(1, N, 3, H, W\)"):
        tiny_model.forward(np.zeros((1, 1, 4, 28, 28), np.float32))
    x = np.zeros((1, 1, 3, 28, 28), np.float32)
    x[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite|NaN"):
        tiny_model.forward(x)
    with pytest.raises(ValueError, match="extrinsics"):
        tiny_model.forward(np.zeros((1, 2, 3, 28, 28), np.float32), np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)))


def test_wrong_pose_count_is_value_error(tiny_model):
    imgs = [str(IMAGES / "d_land_300x190.png"), str(IMAGES / "k_texture_320x240.jpg")]
    with pytest.raises(ValueError):
        tiny_model.inference(imgs, extrinsics=np.tile(np.eye(4), (3, 1, 1)), intrinsics=np.tile(np.eye(3), (3, 1, 1)),
                             process_res=56)


def test_failed_inference_leaves_no_export_folders(tiny_model, tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(FileNotFoundError):
        tiny_model.inference([str(tmp_path / "missing.png")], export_dir=str(out), export_format="npz-glb")
    assert not (tmp_path / "a").exists()
