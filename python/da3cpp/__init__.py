"""da3cpp: Depth Anything 3 on the da3.cpp engine, with the official Python API.

    from da3cpp import DepthAnything3
    model = DepthAnything3.from_pretrained("models/DA3-SMALL")
    prediction = model.inference(["a.jpg", "b.jpg"])
    prediction.depth          # (2, H, W) float32 numpy array

The names, argument order and defaults are those of ``depth_anything_3.api`` 0.1.1; what differs
is listed in docs/python.md. No torch: inputs and outputs are numpy arrays.
"""

from __future__ import annotations

from . import _core
from .api import DepthAnything3
from .specs import Gaussians, Prediction

__version__: str = _core.version()

#: True when a flash-attention kernel exists for the default device (CUDA with compute
#: capability >= 7.5, or a CPU with AVX2+FMA or AVX-512), as the brief's
#: ``depth_anything_3.model.dinov2.layers.FLASH_ATTN_AVAILABLE``.
FLASH_ATTN_AVAILABLE: bool = _core.flash_attn_available()


def get_attention_backend() -> str:
    """The attention backend selected now: ``"flash_attn"``, ``"sdpa"`` or ``"manual"``.

    The automatic choice (flash_attn where a flash kernel exists for the default device, else
    sdpa), or the override in the environment variable ``DA3_ATTENTION_BACKEND``
    (flash_attn | sdpa | manual, case-insensitive), read at each call.
    """
    return _core.attention_backend()


__all__ = [
    "DepthAnything3",
    "Prediction",
    "Gaussians",
    "FLASH_ATTN_AVAILABLE",
    "get_attention_backend",
    "__version__",
]
