# Type stub of the extension module, written by `python -m nanobind.stubgen -m da3cpp._core`
# (python/tests/test_api.py checks that it is current).
from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray


def version() -> str:
    """libda3's version."""

def build_info() -> str:
    """Compiler, build type, CUDA on/off, oneDNN."""

def built_with_cuda() -> bool:
    """Whether this build has the CUDA backend."""

def flash_attn_available() -> bool:
    """
    True when a flash-attention kernel exists for the default device (da3::flash_attn_available).
    """

def attention_backend() -> str:
    """
    The backend an unmasked attention call would run now on the default device, honouring DA3_ATTENTION_BACKEND (da3::attention_backend).
    """

def flash_attn_cpu_isa() -> str: ...

def num_threads() -> int:
    """Threads libda3 computes with (DA3_NUM_THREADS or all cores)."""

def load_image(path: str) -> NDArray[numpy.uint8]:
    """
    An image file as (H, W, 3) uint8 RGB, decoded as inference() decodes paths (da3::load_image).
    """

def preprocess(paths: Sequence[str], process_res: int = 504, process_res_method: str = 'upper_bound_resize') -> dict:
    """
    The network input of inference() for these image files (da3::preprocess): image (1, N, 3, H, W) float32, ImageNet-normalised, and processed_images (N, H, W, 3) uint8.
    """

class ExportRequest:
    def __init__(self, format: str, path: str) -> None: ...

    @property
    def format(self) -> str: ...

    @format.setter
    def format(self, arg: str, /) -> None: ...

    @property
    def path(self) -> str: ...

    @path.setter
    def path(self, arg: str, /) -> None: ...

class Model:
    def __init__(self, dir: str, device: str = 'cpu', device_index: int = 0, threads: int = 0, attention_backend: str = 'auto', precision: str = 'fp32') -> None:
        """Loads config.json + model.safetensors from `dir` (da3::Model::load)."""

    @property
    def model_name(self) -> str: ...

    @property
    def dir(self) -> str: ...

    @property
    def checkpoint_bytes(self) -> int: ...

    def last_stage_times(self) -> dict: ...

    def forward(self, image: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)], extrinsics: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)] | None = None, intrinsics: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)] | None = None, export_feat_layers: Sequence[int] = [], use_ray_pose: bool = False, ref_view_strategy: str = 'saddle_balanced', attention_backend: str = 'auto', infer_gs: bool = False) -> dict: ...

    def infer(self, images: list, extrinsics: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)] | None = None, intrinsics: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)] | None = None, use_ray_pose: bool = False, ref_view_strategy: str = 'saddle_balanced', process_res: int = 504, process_res_method: str = 'upper_bound_resize', export_feat_layers: Sequence[int] = [], exports: Sequence[ExportRequest] = [], conf_thresh: float = 1.0499999523162842, conf_thresh_percentile: float = 40.0, ensure_thresh_percentile: float = 90.0, num_max_points: int = 1000000, show_cameras: bool = True, camera_size: float = 0.029999999329447746, attention_backend: str = 'auto', infer_gs: bool = False) -> dict: ...
