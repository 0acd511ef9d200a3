"""``DepthAnything3``: the official ``depth_anything_3.api`` (0.1.1) interface on da3.cpp.

Signatures (names, order, defaults) are the official ones, followed by da3cpp's own keyword
options. The work is done by libda3 (the same calls as the ``da3`` CLI); this module only checks
and converts arguments. Arguments da3cpp cannot honour yet raise ``NotImplementedError`` when
given a non-default value; none is silently ignored. docs/python.md lists every difference.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _core
from .specs import AuxDict, Gaussians, Prediction

# Export formats: the official names da3cpp writes (at the official paths), then da3cpp's own.
_OFFICIAL_FORMATS = ("mini_npz", "npz", "glb", "colmap", "gs_ply", "gs_video")
_OWN_FORMATS = ("ply", "depth_png", "depth16", "splat")
_UNSUPPORTED_FORMATS = ("feat_vis", "depth_vis")
# export_kwargs["glb"] keys honoured, with the official defaults of export_to_glb.
_GLB_KWARGS = {
    "num_max_points": 1_000_000,
    "conf_thresh": 1.05,
    "conf_thresh_percentile": 40.0,
    "ensure_thresh_percentile": 90.0,
    "show_cameras": True,
    "camera_size": 0.03,
}
_GLB_KWARGS_DEFAULT_ONLY = {"filter_black_bg": False, "filter_white_bg": False, "sky_depth_def": 98.0,
                            "export_depth_vis": True}
_PRECISIONS = ("fp32", "bf16", "fp16")
_BACKENDS = ("auto", "flash_attn", "sdpa", "manual")


def _not_implemented(what: str) -> NotImplementedError:
    return NotImplementedError(f"da3cpp does not implement {what} yet (docs/python.md)")


def _parse_device(device: Any) -> tuple[str, int]:
    text = str(device)
    if text == "cpu":
        return "cpu", 0
    if text == "cuda":
        return "cuda", 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _float32(a: Any, name: str) -> Optional[np.ndarray]:
    if a is None:
        return None
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor, without importing torch
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_rgb_array(img: Any, index: int) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a numpy array or a PIL image (as the official
    ``Image.fromarray(img).convert("RGB")`` / ``img.convert("RGB")``)."""
    if isinstance(img, np.ndarray):
        a = img
        if a.dtype != np.uint8:
            raise ValueError(f"image {index}: arrays must be uint8 (H, W, 3) RGB, got dtype {a.dtype}")
        if a.ndim == 2:  # grey, as PIL's convert("RGB") replicates it
            a = np.repeat(a[:, :, None], 3, axis=2)
        elif a.ndim == 3 and a.shape[2] == 4:  # RGBA: alpha dropped
            a = a[:, :, :3]
        elif a.ndim == 3 and a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"image {index}: arrays must be (H, W, 3) uint8 RGB, got shape {img.shape}")
        return np.ascontiguousarray(a)
    if hasattr(img, "convert") and type(img).__module__.startswith("PIL."):
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    raise ValueError(f"image {index}: unsupported image type {type(img).__name__} "
                     "(use a file path, an (H, W, 3) uint8 numpy array or a PIL image)")


class DepthAnything3:
    """Depth Anything 3 on da3.cpp: ``from_pretrained(dir)``, then ``inference(images)``.

    A drop-in for ``depth_anything_3.api.DepthAnything3`` that needs no torch: inputs and outputs
    are numpy arrays, the network runs in libda3 (C++). One model may be used from several
    threads at once; every call releases the GIL while libda3 works.
    """

    def __init__(self, model_name: str = "da3-large", **kwargs: Any) -> None:
        raise _not_implemented(
            "building a randomly initialised network by preset name (DepthAnything3(model_name=...)); "
            "load a checkpoint directory with DepthAnything3.from_pretrained(dir)")

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: Union[str, os.PathLike],
        *,
        force_download: bool = False,
        resume_download: Optional[bool] = None,
        proxies: Optional[dict] = None,
        token: Optional[Union[str, bool]] = None,
        cache_dir: Optional[Union[str, os.PathLike]] = None,
        local_files_only: bool = False,
        revision: Optional[str] = None,
        device: str = "cpu",
        precision: str = "fp32",
        attention_backend: str = "auto",
        threads: Optional[int] = None,
        **model_kwargs: Any,
    ) -> "DepthAnything3":
        """Load a model from a Hugging Face model directory (``config.json`` +
        ``model.safetensors``, as published and as ``da3 pull NAME`` downloads it).

        Args:
            pretrained_model_name_or_path: the directory. Hub repository ids are not downloaded:
                fetch the directory first (``da3 pull DA3-SMALL`` or ``huggingface-cli download``).
            force_download, resume_download, proxies, token, cache_dir, local_files_only,
                revision: the official (huggingface_hub) download options. As in the official
                API they play no part for a local directory; a non-default ``force_download``
                raises NotImplementedError (nothing is downloaded).
            device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. On CUDA the ViT backbone and the camera
                decoder run on the GPU, the heads on the CPU (docs/gpu.md).
            precision: ``"fp32"``, or ``"bf16"`` where libda3 runs it (else NotImplementedError
                with libda3's reason: not implemented in this build, or a CPU without bf16
                arithmetic); ``"fp16"`` raises NotImplementedError.
            attention_backend: ``"auto"``, ``"flash_attn"``, ``"sdpa"`` or ``"manual"`` for this
                model (wins over ``DA3_ATTENTION_BACKEND``).
            threads: CPU threads libda3 computes with (process-wide); None keeps
                ``DA3_NUM_THREADS`` or all cores.
            model_kwargs: only ``model_name``, which must match the directory's config.json.

        Raises:
            FileNotFoundError: the directory, its config.json or model.safetensors is missing.
            RuntimeError: the checkpoint cannot be loaded (corrupt, wrong tensors, no GPU, ...).
            ValueError: a bad option value. NotImplementedError: see above.
        """
        if force_download:
            raise _not_implemented("downloads (force_download=True); pass a local model directory")
        dev, index = _parse_device(device)
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
        if precision == "fp16":
            raise _not_implemented("precision='fp16' (libda3 has fp32 and bf16 model precisions)")
        if str(attention_backend).lower() not in _BACKENDS:
            raise ValueError(f"attention_backend must be one of {', '.join(_BACKENDS)}, got {attention_backend!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1 or threads > 1024):
            raise ValueError(f"threads must be an int in [1, 1024] or None, got {threads!r}")
        unknown = set(model_kwargs) - {"model_name"}
        if unknown:
            raise TypeError(f"from_pretrained() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        path = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(path) and not os.path.exists(path) and "/" in path and not path.startswith((".", "/")):
            raise FileNotFoundError(
                f"'{path}' is not a local directory; da3cpp does not download from the Hugging Face Hub: "
                f"get it first, e.g. `da3 pull {path.split('/')[-1]}`, and pass the directory")
        self = cls.__new__(cls)
        self._core = _core.Model(path, device=dev, device_index=index, threads=threads or 0,
                                 attention_backend=str(attention_backend).lower(), precision=precision)
        self.model_name = self._core.model_name
        if "model_name" in model_kwargs and model_kwargs["model_name"] != self.model_name:
            raise ValueError(f"model_name={model_kwargs['model_name']!r} but {path}/config.json is {self.model_name!r}")
        self.device = device if dev == "cpu" else f"cuda:{index}"
        return self

    # The official class is a torch Module: keep the calls users chain on it working.
    def to(self, device: Any) -> "DepthAnything3":
        """Returns self when ``device`` is the one the model was loaded for; da3cpp cannot move a
        loaded model (pass ``device=`` to from_pretrained)."""
        dev, index = _parse_device(device)
        loaded = _parse_device(self.device)
        if (dev, index) != loaded:
            raise _not_implemented(f"moving a loaded model to {device!r}; pass device= to from_pretrained")
        return self

    def eval(self) -> "DepthAnything3":
        """Returns self (inference is the only mode)."""
        return self

    def __repr__(self) -> str:
        return f"da3cpp.DepthAnything3(model_name={self.model_name!r}, dir={self._core.dir!r}, device={self.device!r})"

    # ------------------------------------------------------------------------------------------
    def forward(
        self,
        image: np.ndarray,
        extrinsics: np.ndarray | None = None,
        intrinsics: np.ndarray | None = None,
        export_feat_layers: list[int] | None = None,
        infer_gs: bool = False,
        use_ray_pose: bool = False,
        ref_view_strategy: str = "saddle_balanced",
        *,
        attention_backend: str = "auto",
    ) -> dict[str, np.ndarray]:
        """The raw network on preprocessed views (``da3::Model::forward``; ``da3 forward``).

        Args:
            image: ``(1, N, 3, H, W)`` float32, ImageNet-normalised, H and W multiples of 14
                (other float/int dtypes are converted to float32; a torch tensor is accepted).
            extrinsics: optional ``(1, N, 4, 4)`` world-to-camera, for pose-conditioned depth.
            intrinsics: optional ``(1, N, 3, 3)`` in pixels (needed with extrinsics).
            export_feat_layers: backbone blocks whose features to return (``aux.feat_layer_<i>``).
            infer_gs: also run the 3D Gaussian head (DA3-GIANT, DA3NESTED-GIANT-LARGE; other
                presets raise ValueError): adds ``gs_means``, ``gs_scales``, ``gs_rotations``,
                ``gs_harmonics``, ``gs_opacities`` (world space, one Gaussian per pixel).
            use_ray_pose: poses from the ray head instead of the camera decoder.
            ref_view_strategy: first | middle | saddle_balanced | saddle_sim_range.
            attention_backend: da3cpp's per-call override (auto | flash_attn | sdpa | manual).

        Returns:
            ``{"depth": (1, N, H, W), "depth_conf": ..., "extrinsics": (1, N, 3, 4),
            "intrinsics": (1, N, 3, 3), "sky": ..., "aux.feat_layer_<i>": ...,
            "scale_factor": (1,)}``: the tensors ``da3 forward`` writes, under its names, as
            numpy arrays (float32); keys for outputs the preset does not have are absent.
            Unlike the official forward, fp32 throughout (no autocast).
        """
        x = _float32(image, "image")
        feats = [int(i) for i in export_feat_layers] if export_feat_layers is not None else []
        return self._core.forward(x, _float32(extrinsics, "extrinsics"), _float32(intrinsics, "intrinsics"),
                                  export_feat_layers=feats, use_ray_pose=bool(use_ray_pose),
                                  ref_view_strategy=ref_view_strategy, attention_backend=attention_backend,
                                  infer_gs=bool(infer_gs))

    __call__ = forward

    # ------------------------------------------------------------------------------------------
    def inference(
        self,
        image: list[np.ndarray | Any | str],
        extrinsics: np.ndarray | None = None,
        intrinsics: np.ndarray | None = None,
        align_to_input_ext_scale: bool = True,
        infer_gs: bool = False,
        use_ray_pose: bool = False,
        ref_view_strategy: str = "saddle_balanced",
        render_exts: np.ndarray | None = None,
        render_ixts: np.ndarray | None = None,
        render_hw: tuple[int, int] | None = None,
        process_res: int = 504,
        process_res_method: str = "upper_bound_resize",
        export_dir: str | None = None,
        export_format: str = "mini_npz",
        export_feat_layers: Sequence[int] | None = None,
        # GLB export parameters
        conf_thresh_percentile: float = 40.0,
        num_max_points: int = 1_000_000,
        show_cameras: bool = True,
        # Feat_vis export parameters
        feat_vis_fps: int = 15,
        # Other export parameters, e.g., gs_ply, gs_video
        export_kwargs: Optional[dict] = {},
        *,
        attention_backend: str = "auto",
    ) -> Prediction:
        """Images in, depth and cameras out: the views of one scene, as the official inference().

        The same steps as ``da3 infer`` (preprocess, network, postprocess, alignment to input
        poses, exports), in the same library code: the same inputs give bitwise the same depth.

        Args:
            image: list of images, each a file path (str or os.PathLike), an ``(H, W, 3)`` uint8
                RGB numpy array (``(H, W)`` grey and ``(H, W, 4)`` RGBA are converted as PIL's
                ``convert("RGB")`` does) or a PIL image.
            extrinsics: optional ``(N, 4, 4)`` (or ``(N, 3, 4)``) world-to-camera input poses.
            intrinsics: optional ``(N, 3, 3)`` in pixels of the input images.
            align_to_input_ext_scale: with input poses, return the given poses and depth in
                their scale (True). False raises NotImplementedError when poses are given.
            infer_gs: run the 3D Gaussian head (DA3-GIANT, DA3NESTED-GIANT-LARGE; other presets
                raise ValueError) and return ``Prediction.gaussians``; needed by gs_ply / splat.
            use_ray_pose: poses from the ray head instead of the camera decoder.
            ref_view_strategy: first | middle | saddle_balanced | saddle_sim_range.
            render_exts, render_ixts, render_hw: Gaussian video renders; must be None.
            process_res: processing resolution (longest or shortest side), in [14, 4096].
            process_res_method: upper_bound_resize | lower_bound_resize | upper_bound_crop |
                lower_bound_crop.
            export_dir: write the exports here (created if needed); None writes nothing.
            export_format: formats joined by "-": mini_npz (export_dir/exports/mini_npz/
                results.npz), npz (export_dir/exports/npz/results.npz), glb
                (export_dir/scene.glb), colmap (export_dir/colmap/), and da3cpp's ply
                (export_dir/points.ply), depth_png, depth16 (folders), gs_ply
                (export_dir/gs_ply/0000.ply; needs infer_gs) and da3cpp's splat
                (export_dir/scene.splat; needs infer_gs), gs_video (export_dir/gs_video/0000.avi,
                rendered on the CPU along the input cameras; needs infer_gs). feat_vis and
                depth_vis raise NotImplementedError. The official API adds gs_video to every
                gs export: da3cpp renders it only when asked (it takes seconds on a CPU).
            export_feat_layers: backbone blocks whose features to return in ``aux``.
            conf_thresh_percentile, num_max_points, show_cameras: glb (and ply) point export.
            feat_vis_fps: only for feat_vis (not implemented); any value is accepted otherwise.
            export_kwargs: ``{"glb": {...}}`` with num_max_points, conf_thresh,
                conf_thresh_percentile, ensure_thresh_percentile, show_cameras, camera_size
                (the official glb options; filter_black_bg, filter_white_bg, sky_depth_def and
                export_depth_vis only at their defaults). Not modified (the official one is).
            attention_backend: da3cpp's per-call override (auto | flash_attn | sdpa | manual).

        Returns:
            :class:`da3cpp.Prediction` with numpy arrays of the official shapes and dtypes.

        Raises:
            FileNotFoundError: an image path does not exist. ValueError: bad arguments, shapes or
            unreadable images (the message is libda3's). NotImplementedError: see above.
        """
        # --- what da3cpp cannot honour: refused, never ignored ---------------------------------
        for name, value in (("render_exts", render_exts), ("render_ixts", render_ixts), ("render_hw", render_hw)):
            if value is not None:
                raise _not_implemented(f"Gaussian renders ({name})")
        if extrinsics is not None and not align_to_input_ext_scale:
            raise _not_implemented("align_to_input_ext_scale=False (the prediction in its own scale, "
                                   "aligned to the input poses by Umeyama)")
        formats = [f for f in str(export_format).split("-") if f] if export_dir is not None else []
        for f in formats:
            if f in _UNSUPPORTED_FORMATS:
                raise _not_implemented(f"the {f!r} export")
            if f not in _OFFICIAL_FORMATS + _OWN_FORMATS:
                raise ValueError(f"Unsupported export format: {f} (known: "
                                 f"{', '.join(_OFFICIAL_FORMATS + _OWN_FORMATS)})")
            if f in ("gs_ply", "splat", "gs_video") and not infer_gs:
                raise ValueError("must set `infer_gs=True` to perform gs-related export.")
        glb = dict(_GLB_KWARGS)
        glb.update(conf_thresh_percentile=conf_thresh_percentile, num_max_points=num_max_points,
                   show_cameras=show_cameras)
        for key, opts in (export_kwargs or {}).items():
            if key != "glb":
                raise _not_implemented(f"export_kwargs[{key!r}]")
            for k, v in dict(opts).items():
                if k in _GLB_KWARGS:
                    if k not in ("conf_thresh_percentile", "num_max_points", "show_cameras"):
                        glb[k] = v  # the three named arguments win, as in the official update()
                elif k in _GLB_KWARGS_DEFAULT_ONLY:
                    if v != _GLB_KWARGS_DEFAULT_ONLY[k]:
                        raise _not_implemented(f"the glb option {k}={v!r}")
                else:
                    raise TypeError(f"export_to_glb() got an unexpected keyword argument '{k}'")

        # --- arguments ---------------------------------------------------------------------
        if isinstance(image, (str, os.PathLike, np.ndarray)) or not hasattr(image, "__len__"):
            raise ValueError("image must be a list of images (paths, (H, W, 3) uint8 arrays or PIL images)")
        if len(image) == 0:
            raise ValueError("image is empty: pass at least one image")
        if not isinstance(process_res, (int, np.integer)) or not 14 <= int(process_res) <= 4096:
            raise ValueError(f"process_res must be an int in [14, 4096] (the model was trained at 504), "
                             f"got {process_res!r}")
        items: list[Any] = []
        for i, img in enumerate(image):
            items.append(os.fspath(img) if isinstance(img, (str, os.PathLike)) else _as_rgb_array(img, i))
        n_paths = sum(isinstance(x, str) for x in items)
        if 0 < n_paths < len(items):  # mixed: decode the paths here, as preprocess would
            items = [_core.load_image(x) if isinstance(x, str) else x for x in items]
        if "colmap" in formats and n_paths != len(items):
            raise ValueError("`image` must be image paths for COLMAP export.")
        feats = [int(i) for i in export_feat_layers] if export_feat_layers is not None else []

        exports = []
        created: list[str] = []  # folders made here, removed again (when empty) if inference fails

        def makedirs(d: str) -> None:
            missing = []
            while d and not os.path.isdir(d):
                missing.append(d)
                d = os.path.dirname(d)
            if missing:
                os.makedirs(missing[0], exist_ok=True)
                created.extend(missing)

        if export_dir is not None:
            export_dir = os.fspath(export_dir)
            makedirs(export_dir)
            where = {
                "npz": os.path.join(export_dir, "exports", "npz", "results.npz"),
                "mini_npz": os.path.join(export_dir, "exports", "mini_npz", "results.npz"),
                "glb": os.path.join(export_dir, "scene.glb"),
                "colmap": os.path.join(export_dir, "colmap"),
                "ply": os.path.join(export_dir, "points.ply"),
                "depth_png": os.path.join(export_dir, "depth_png"),
                "depth16": os.path.join(export_dir, "depth16"),
                "gs_ply": os.path.join(export_dir, "gs_ply", "0000.ply"),
                "splat": os.path.join(export_dir, "scene.splat"),
                "gs_video": os.path.join(export_dir, "gs_video", "0000.avi"),
            }
            for f in dict.fromkeys(formats):
                if f in ("npz", "mini_npz", "glb", "ply", "gs_ply", "splat", "gs_video"):
                    makedirs(os.path.dirname(where[f]))
                exports.append(_core.ExportRequest(f, where[f]))

        try:
            r = self._infer(items, extrinsics, intrinsics, use_ray_pose, ref_view_strategy, process_res,
                            process_res_method, feats, exports, glb, attention_backend, bool(infer_gs))
        except BaseException:
            for d in sorted(created, key=len, reverse=True):  # deepest first; only what is still empty
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise
        return Prediction(
            depth=r["depth"],
            is_metric=int(r["is_metric"]),
            sky=r["sky"],
            conf=r["conf"],
            extrinsics=r["extrinsics"],
            intrinsics=r["intrinsics"],
            processed_images=r["processed_images"],
            gaussians=Gaussians(**r["gaussians"]) if "gaussians" in r else None,
            aux=AuxDict(r["aux"]),
            scale_factor=r["scale_factor"],
        )

    def _infer(self, items, extrinsics, intrinsics, use_ray_pose, ref_view_strategy, process_res,
               process_res_method, feats, exports, glb, attention_backend, infer_gs=False) -> dict:
        return self._core.infer(
            items, _float32(extrinsics, "extrinsics"), _float32(intrinsics, "intrinsics"),
            use_ray_pose=bool(use_ray_pose), ref_view_strategy=ref_view_strategy, process_res=int(process_res),
            process_res_method=process_res_method, export_feat_layers=feats, exports=exports,
            conf_thresh=float(glb["conf_thresh"]), conf_thresh_percentile=float(glb["conf_thresh_percentile"]),
            ensure_thresh_percentile=float(glb["ensure_thresh_percentile"]),
            num_max_points=int(glb["num_max_points"]), show_cameras=bool(glb["show_cameras"]),
            camera_size=float(glb["camera_size"]), attention_backend=attention_backend, infer_gs=infer_gs)
