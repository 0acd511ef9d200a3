"""Result types, field for field those of ``depth_anything_3.specs`` (0.1.1), holding numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np


class AuxDict(dict):
    """A dict whose keys also read as attributes (``aux.feat_layer_3``), as the official ``aux``
    (an ``addict.Dict``) allows."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Gaussians:
    """3D Gaussian parameters, world space (official ``depth_anything_3.specs.Gaussians``), as
    numpy float32 arrays with the batch dimension: means (1, G, 3), scales (1, G, 3), rotations
    (1, G, 4), harmonics (1, G, 3, d_sh), opacities (1, G); G = N·H·W, one per pixel."""

    means: np.ndarray
    scales: np.ndarray
    rotations: np.ndarray
    harmonics: np.ndarray
    opacities: np.ndarray


@dataclass
class Prediction:
    """What :meth:`da3cpp.DepthAnything3.inference` returns (official ``Prediction``).

    Fields, N views of the processed size H x W:
      depth             (N, H, W) float32
      is_metric         int, 1 for metric depth (metric / nested presets), else 0
      sky               (N, H, W) bool, or None (presets without a sky head)
      conf              (N, H, W) float32, or None (presets without confidence)
      extrinsics        (N, 3, 4) float32 world-to-camera, or None (no camera head, no poses given)
      intrinsics        (N, 3, 3) float32 in pixels of the processed views, or None
      processed_images  (N, H, W, 3) uint8, the network's input images
      gaussians         Gaussians with infer_gs=True, else None
      aux               dict: ``feat_layer_<i>`` (N, H/14, W/14, C) float32 for export_feat_layers
      scale_factor      float for nested presets (the metric scale applied), else None
    """

    depth: np.ndarray
    is_metric: int
    sky: np.ndarray | None = None
    conf: np.ndarray | None = None
    extrinsics: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    processed_images: np.ndarray | None = None
    gaussians: Gaussians | None = None
    aux: dict[str, Any] = None  # type: ignore[assignment]
    scale_factor: Optional[float] = None
