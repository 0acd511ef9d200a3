"""The reference network (depth-anything-3==0.1.1) on a stock torch venv, without pip.

Shared by make_random_checkpoint.py and torch_forward_bench.py. What a stock `torch` venv lacks
(the GPU machine has torch + numpy and no package index) comes from wheels carried in a folder
(tools/gpu/fetch_wheel.sh downloads them):

    depth_anything_3   the reference itself (installed with --no-deps: its declared
                       dependencies are GUI/3D tooling the network never imports)
    omegaconf, PyYAML  depth_anything_3.cfg reads the preset yaml and builds the network with them
    einops, addict     used by the network code (rearrange; the output Dict)

The wheels are unpacked into a temporary directory that goes on sys.path (a wheel is a zip; the
unpacked copy also lets PyYAML load its C extension where the Python version matches, and fall
back to its pure-Python code otherwise). Packages that are already importable are used as
installed, except depth_anything_3 when a wheel is given for it.

Only `depth_anything_3.model` (the network) and `depth_anything_3.cfg` / `registry` (preset
yaml -> network) are imported: never `depth_anything_3.api`, which pulls in the export helpers
(moviepy, trimesh, pycolmap, open3d, ...) and huggingface_hub. One module is stubbed: `evo`
(trajectory alignment), imported at import time by the Gaussian-splatting adapter of da3-giant
and used only by its pose alignment, never by the forward pass timed here.

The checkpoint layout reproduces `DepthAnything3(model_name=...).save_pretrained(dir)`
(huggingface_hub's PyTorchModelHubMixin + safetensors.torch.save_model): `config.json`
`{"model_name": ...}`, and `model.safetensors` with the wrapper's keys (`model.` + the network's
state_dict keys), float32, tied tensors stored once under the lexicographically smallest name, the
other names in `__metadata__` mapping to it. The safetensors format is written and read here
directly (8-byte little-endian header length, JSON header padded with spaces to a multiple of 8,
raw little-endian data), so the `safetensors` package is not needed.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import sys
import tempfile
import types
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WHEEL_DIRS = [REPO_ROOT / "gpu-wheels"]

# Distribution name prefix in the wheel file name -> top-level module it provides.
WHEEL_MODULES = {
    "depth_anything_3": "depth_anything_3",
    "einops": "einops",
    "addict": "addict",
    "omegaconf": "omegaconf",
    "pyyaml": "yaml",
    "PyYAML": "yaml",
}


def _module_available(name: str) -> bool:
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _wheel_files(wheel_arg: str | os.PathLike | None) -> list[Path]:
    """The .whl files named by --wheel (a file or a folder), else $DA3_GPU_WHEELS, else gpu-wheels/."""
    candidates: list[Path] = []
    if wheel_arg:
        candidates.append(Path(wheel_arg))
    elif os.environ.get("DA3_GPU_WHEELS"):
        candidates.append(Path(os.environ["DA3_GPU_WHEELS"]))
    else:
        candidates.extend(DEFAULT_WHEEL_DIRS)
    wheels: list[Path] = []
    for c in candidates:
        if c.is_file() and c.suffix == ".whl":
            wheels.append(c)
            # a single DA3 wheel given: its companions usually lie beside it
            wheels.extend(sorted(p for p in c.parent.glob("*.whl") if p != c))
        elif c.is_dir():
            wheels.extend(sorted(c.glob("*.whl")))
        elif wheel_arg:
            raise SystemExit(f"--wheel {wheel_arg}: neither a .whl file nor a folder")
    return wheels


def _wheel_module(path: Path) -> str | None:
    dist = path.name.split("-")[0]
    return WHEEL_MODULES.get(dist) or WHEEL_MODULES.get(dist.lower())


_setup_done = False


def setup_imports(wheel_arg: str | os.PathLike | None = None, quiet: bool = True) -> None:
    """Make `import depth_anything_3.model` work; idempotent."""
    global _setup_done
    if _setup_done:
        return
    _setup_done = True
    # The reference logs every module it builds at INFO.
    if quiet:
        os.environ.setdefault("DA3_LOG_LEVEL", "ERROR")
    wheels = _wheel_files(wheel_arg)
    tmp: Path | None = None
    front: list[str] = []
    back: list[str] = []
    used: list[str] = []
    for w in wheels:
        mod = _wheel_module(w)
        if mod is None:
            continue
        if mod != "depth_anything_3" and _module_available(mod):
            continue  # installed one wins for the helpers
        if mod == "depth_anything_3" and any("depth_anything_3" in u for u in used):
            continue  # first DA3 wheel only
        if tmp is None:
            tmp = Path(tempfile.mkdtemp(prefix="da3-gpu-wheels-"))
            atexit.register(shutil.rmtree, tmp, True)
        dest = tmp / w.stem
        with zipfile.ZipFile(w) as z:
            z.extractall(dest)
        (front if mod == "depth_anything_3" else back).append(str(dest))
        used.append(w.name)
    sys.path[:0] = front
    sys.path.extend(back)
    missing = [m for m in ("torch", "numpy", "einops", "addict", "omegaconf", "yaml", "depth_anything_3")
               if not _module_available(m)]
    if missing:
        raise SystemExit(
            f"cannot import {', '.join(missing)}: pass --wheel DIR (or set DA3_GPU_WHEELS) with the wheels "
            f"tools/gpu/fetch_wheel.sh downloads (wheels looked at: {[str(w) for w in wheels] or 'none'})")
    _install_stubs()
    import warnings
    with warnings.catch_warnings():
        # omegaconf >= 2.4 deprecates register_new_resolver (depth_anything_3.cfg calls it at import)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import depth_anything_3.cfg  # noqa: F401
        import depth_anything_3.model  # noqa: F401  (fail here, not later, if something is missing)
        import depth_anything_3.registry  # noqa: F401


def _install_stubs() -> None:
    """`evo` (trajectory evaluation) is imported at import time by depth_anything_3.utils.pose_align,
    which da3-giant's GaussianAdapter imports; only its pose alignment (never run here) uses it."""
    if _module_available("evo"):
        return

    class PosePath3D:  # noqa: D401
        def __init__(self, *a, **k):
            raise RuntimeError("evo is stubbed by tools/gpu/da3_slim.py (Gaussian pose alignment is not supported)")

    evo = types.ModuleType("evo")
    core = types.ModuleType("evo.core")
    traj = types.ModuleType("evo.core.trajectory")
    traj.PosePath3D = PosePath3D
    evo.core = core
    core.trajectory = traj
    sys.modules.update({"evo": evo, "evo.core": core, "evo.core.trajectory": traj})


def presets() -> list[str]:
    from depth_anything_3.registry import MODEL_REGISTRY
    return list(MODEL_REGISTRY)


# --------------------------------------------------------------------------------------------
# Building the network
# --------------------------------------------------------------------------------------------


def build_wrapper(model_name: str):
    """What DepthAnything3(model_name=...) builds, minus its input/output processors (no
    parameters): an nn.Module whose `.model` is the network, so state_dict keys are the
    official checkpoint's (`model.backbone.pretrained.blocks.0.attn.qkv.weight`, ...)."""
    import torch.nn as nn
    from depth_anything_3.cfg import create_object, load_config
    from depth_anything_3.registry import MODEL_REGISTRY

    if model_name not in MODEL_REGISTRY:
        raise SystemExit(f"unknown preset {model_name!r}; the reference has {', '.join(MODEL_REGISTRY)}")

    class DepthAnything3Slim(nn.Module):
        def __init__(self):
            super().__init__()
            self.model_name = model_name
            self.config = load_config(MODEL_REGISTRY[model_name])
            self.model = create_object(self.config)
            self.model.eval()

    return DepthAnything3Slim()


def redraw_parameters(net, seed: int) -> None:
    """tools/reference/weight_redraw.py (the fixtures' redraw): every parameter redrawn in place from
    torch.Generator().manual_seed(seed), then the output layers scaled so outputs vary."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
    from weight_redraw import redraw_parameters as redraw

    redraw(net, seed)


def random_wrapper(model_name: str, seed: int):
    """tools/reference/make_checkpoint.py:build (after its torch.manual_seed(seed))."""
    import torch
    torch.manual_seed(seed)
    wrapper = build_wrapper(model_name)
    nets = [wrapper.model.da3, wrapper.model.da3_metric] if hasattr(wrapper.model, "da3_metric") else [wrapper.model]
    for i, net in enumerate(nets):
        redraw_parameters(net, seed + i)
    return wrapper.eval()


# --------------------------------------------------------------------------------------------
# safetensors, written and read without the safetensors package
# --------------------------------------------------------------------------------------------

_DTYPES = None


def _dtype_table():
    global _DTYPES
    if _DTYPES is None:
        import torch
        _DTYPES = {
            torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
            torch.uint8: "U8", torch.bool: "BOOL",
        }
    return _DTYPES


def _storage_key(t):
    return (t.device, t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())


def dedupe_shared(state: dict) -> tuple[dict, dict]:
    """safetensors.torch.save_model's _remove_duplicate_names: tensors sharing storage are kept
    once, under the sorted-first name; returns (state without the others, {removed: kept})."""
    groups: dict = {}
    for k, v in state.items():
        if v.untyped_storage().data_ptr() != 0 and v.untyped_storage().nbytes() != 0:
            groups.setdefault(_storage_key(v), set()).add(k)
    removed: dict[str, str] = {}
    for names in groups.values():
        if len(names) < 2:
            continue
        complete = sorted(n for n in names
                          if state[n].data_ptr() == state[n].untyped_storage().data_ptr()
                          and state[n].nelement() * state[n].element_size() == state[n].untyped_storage().nbytes())
        if not complete:
            raise RuntimeError(f"tensors {sorted(names)} share memory and none covers it whole")
        keep = complete[0]
        for n in sorted(names):
            if n != keep:
                removed[n] = keep
    out = {k: v for k, v in state.items() if k not in removed}
    return out, removed


def save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict | None = None) -> None:
    """The safetensors format as the reference Rust writer lays it out: tensors ordered by dtype
    (wider first) then name, data in that order, compact JSON header padded with spaces to a
    multiple of 8. __metadata__ entries sorted (the Rust writer keeps them in hash order)."""
    import torch
    table = _dtype_table()
    order = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    offset = 0
    blobs = []
    for name, t in order:
        if t.dtype not in table:
            raise TypeError(f"{name}: dtype {t.dtype} not supported")
        t = t.detach().to("cpu").contiguous()
        n = t.nelement() * t.element_size()
        header[name] = {"dtype": table[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
        blobs.append(t)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for t in blobs:
            if t.nelement():
                f.write(t.reshape(-1).view(torch.uint8).numpy().data)
    os.replace(tmp, path)


def load_safetensors(path: str | os.PathLike) -> tuple[dict, dict]:
    """(tensors, __metadata__); the tensors share one buffer holding the file."""
    import torch
    rev = {v: k for k, v in _dtype_table().items()}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = bytearray(os.fstat(f.fileno()).st_size - 8 - n)
        f.readinto(data)
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        dt = rev[info["dtype"]]
        count = (b - a) // torch.empty((), dtype=dt).element_size()
        t = torch.frombuffer(data, dtype=dt, count=count, offset=a) if count else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info["shape"])
    return out, meta


def save_pretrained(wrapper, out_dir: str | os.PathLike) -> Path:
    """config.json + model.safetensors as PyTorchModelHubMixin.save_pretrained writes them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state, removed = dedupe_shared(wrapper.state_dict())
    save_safetensors(out / "model.safetensors", state, removed or None)
    # huggingface_hub: json.dumps(config, sort_keys=True, indent=2) (no trailing newline)
    (out / "config.json").write_text(json.dumps({"model_name": wrapper.model_name}, sort_keys=True, indent=2))
    return out


def load_model(model_dir: str | os.PathLike):
    """The network for a checkpoint directory: built from config.json's model_name, then every
    tensor of model.safetensors loaded strictly (de-duplicated names resolved through
    __metadata__). Returns (wrapper, model_name)."""
    d = Path(model_dir)
    cfg = json.loads((d / "config.json").read_text())
    if "architecture" in cfg:
        raise SystemExit(f"{d}: config.json carries a custom 'architecture' (a tiny fixture); "
                         "only the presets are built here")
    name = cfg.get("model_name")
    if not name:
        raise SystemExit(f"{d}/config.json has no model_name")
    wrapper = build_wrapper(name)
    tensors, meta = load_safetensors(d / "model.safetensors")
    expected = wrapper.state_dict()
    for alias, kept in meta.items():
        if alias in expected and alias not in tensors and kept in tensors:
            tensors[alias] = tensors[kept]
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise SystemExit(f"{d}/model.safetensors does not fit {name}: missing {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''}, unexpected {unexpected[:10]}"
                         f"{' ...' if len(unexpected) > 10 else ''}")
    wrapper.load_state_dict(tensors, strict=True)
    return wrapper.eval(), name
