#!/usr/bin/env python3
"""Generate the reference fixtures that da3.cpp is tested against.

For each fixture this script builds a *tiny* Depth Anything 3 network out of the
reference package's own classes (depth-anything-3==0.1.1), so every code path of
a real preset runs (alternating local/global attention, 2-D RoPE, QK-norm, camera
tokens, cat_token, DualDPT/DPT heads, camera encoder/decoder, sky handling), only
with small sizes. It then

  1. redraws every parameter from a seeded generator (PyTorch's default init
     leaves LayerNorm at 1/0 and tokens at 0, which would hide porting mix-ups),
  2. saves the weights with the reference's own `save_pretrained` (the exact
     Hugging Face layout: model.safetensors + config.json), adding an
     "architecture" entry to config.json that spells the tiny sizes out,
  3. writes manifest.json: every state_dict key with shape/dtype, and the keys
     `save_pretrained` de-duplicated (tied tensors) with the key they alias,
  4. runs the network in fp32 on seeded inputs and writes
     forward_<case>.safetensors with inputs, outputs and named intermediates.

Usage (from the repository root, with the venv of setup_env.sh):
  tools/reference/.venv/bin/python tools/reference/make_fixtures.py            # all fixtures
  tools/reference/.venv/bin/python tools/reference/make_fixtures.py --only tiny-mono
  tools/reference/.venv/bin/python tools/reference/make_fixtures.py --check    # verify committed files

See tools/reference/README.md for the file formats and tensor names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

# The reference package is noisy at import time and logs every module it builds.
warnings.filterwarnings("ignore")
os.environ.setdefault("DA3_LOG_LEVEL", "ERROR")

import depth_anything_3  # noqa: E402
import depth_anything_3.api as da3_api  # noqa: E402
import depth_anything_3.model.da3 as da3_net_module  # noqa: E402
import depth_anything_3.model.dinov2.vision_transformer as vit_module  # noqa: E402
import depth_anything_3.utils.ray_utils as ray_utils  # noqa: E402
from depth_anything_3.api import DepthAnything3  # noqa: E402
from depth_anything_3.model.cam_dec import CameraDec  # noqa: E402
from depth_anything_3.model.cam_enc import CameraEnc  # noqa: E402
from depth_anything_3.model.da3 import DepthAnything3Net  # noqa: E402
from depth_anything_3.model.dinov2.dinov2 import DinoV2  # noqa: E402
from depth_anything_3.model.dinov2.vision_transformer import DinoVisionTransformer  # noqa: E402
from depth_anything_3.model.dpt import DPT  # noqa: E402
from depth_anything_3.model.dualdpt import DualDPT  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures"
PATCH_SIZE = 14

# ImageNet normalisation, as the reference InputProcessor applies it. The network
# input stored in the fixtures is already normalised.
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)

# Tolerance for --check on floating-point *computed* tensors (norm-wise relative).
# Weights and inputs are drawn from seeded generators and must match bit for bit.
CHECK_RTOL = 1e-5

# The reference treats sky >= 0.3 as sky (compute_sky_mask); fixtures keep every sky value
# at least SKY_MARGIN away from it.
SKY_THRESHOLD = 0.3
SKY_MARGIN = 1e-4


# --------------------------------------------------------------------------------------
# Fixture specifications
# --------------------------------------------------------------------------------------


@dataclass
class NetSpec:
    """DinoVisionTransformer sizes; field names follow the reference yaml / constructor."""

    embed_dim: int
    depth: int
    num_heads: int
    out_layers: list[int]
    alt_start: int
    qknorm_start: int
    rope_start: int
    cat_token: bool
    img_size: int = 518
    mlp_ratio: float = 4.0
    ffn_layer: str = "mlp"  # "mlp" (vits/vitb/vitl) or "swiglufused" (vitg)


@dataclass
class Case:
    """One forward run: N views of H x W, optionally pose-conditioned or ray-pose."""

    name: str
    views: int
    height: int
    width: int
    seed: int
    with_pose: bool = False  # feed extrinsics/intrinsics (camera-encoder path)
    use_ray_pose: bool = False  # pose from the DualDPT ray branch instead of cam_dec
    expect_ref_reorder: bool = False  # assert the chosen reference view is not view 0
    export_feat_layers: tuple[int, ...] = ()  # backbone layers whose features the reference exports ("aux")


@dataclass
class FixtureSpec:
    name: str
    preset: str  # the real preset whose code path this mirrors (config.json "model_name")
    description: str
    param_seed: int
    net: NetSpec
    head: dict  # constructor args; "type" is DualDPT or DPT
    cam_enc: dict | None = None
    cam_dec: dict | None = None
    cases: list[Case] = field(default_factory=list)


FIXTURES: dict[str, FixtureSpec] = {}


def _register(spec: FixtureSpec) -> None:
    FIXTURES[spec.name] = spec


# Mirrors da3-small/base/large: DualDPT head + camera encoder/decoder.
# out_layers mixes a tap before alt_start (1: plain local block), a global block (3, 5)
# and a local block after alt_start (4), so cat_token sees every combination.
_register(
    FixtureSpec(
        name="tiny-anyview",
        preset="da3-small",
        description="any-view model (DualDPT + CameraEnc + CameraDec), tiny sizes",
        param_seed=1001,
        net=NetSpec(
            embed_dim=48, depth=6, num_heads=2, out_layers=[1, 3, 4, 5],
            alt_start=2, qknorm_start=2, rope_start=2, cat_token=True, img_size=518,
        ),
        head={"type": "DualDPT", "dim_in": 96, "output_dim": 2, "features": 16,
              "out_channels": [8, 16, 32, 32]},
        cam_enc={"dim_out": 48},
        cam_dec={"dim_in": 96},
        cases=[
            Case("1view_112x84", views=1, height=112, width=84, seed=11),
            # >= 3 views without poses: reference-view selection + reordering
            # also exports two layers' features: a local one before and a global one after the
            # reordering (the reference exports those in the reordered view order)
            Case("4view_56x70", views=4, height=56, width=70, seed=19, expect_ref_reorder=True,
                 export_feat_layers=(0, 3)),
            # poses given: camera tokens come from CameraEnc, no reference selection
            Case("3view_posed_70x56", views=3, height=70, width=56, seed=14, with_pose=True),
            # two views (no reference selection below 3 views); pose from the ray branch
            # (RANSAC; its random draw is stored in the file)
            Case("2view_raypose_56x70", views=2, height=56, width=70, seed=15, use_ray_pose=True),
        ],
    )
)

# Mirrors da3mono-large (and da3metric-large): no alternating attention, no RoPE/QK-norm,
# cat_token False, DPT head with one depth channel and the sky head. img_size 70 (5x5
# patch grid) so a 70x70 input uses pos_embed as stored and 84x70 interpolates it.
_register(
    FixtureSpec(
        name="tiny-mono",
        preset="da3mono-large",
        description="monocular model (DPT with sky head), tiny sizes",
        param_seed=2002,
        net=NetSpec(
            embed_dim=32, depth=6, num_heads=2, out_layers=[1, 3, 4, 5],
            alt_start=-1, qknorm_start=-1, rope_start=-1, cat_token=False, img_size=70,
        ),
        head={"type": "DPT", "dim_in": 32, "output_dim": 1, "features": 16,
              "out_channels": [8, 16, 32, 32]},
        cases=[
            Case("1view_70x70", views=1, height=70, width=70, seed=21),
            # 6x5 patches from a 5x5 pos_embed: the width keeps 5 patches but is still
            # resampled, because the reference scales by (5 + 0.1) / 5 (interpolate_offset)
            Case("1view_84x70", views=1, height=84, width=70, seed=27),
        ],
    )
)

# Mirrors da3-giant (without its GS head): SwiGLU FFN and an odd alt_start, so the block
# where camera tokens enter is a global one (vitg uses alt_start 13). One head of dim 64,
# the head dim of every real preset.
_register(
    FixtureSpec(
        name="tiny-giant-like",
        preset="da3-giant",
        description="any-view model with SwiGLU FFN and odd alt_start (vitg code path)",
        param_seed=3003,
        net=NetSpec(
            embed_dim=64, depth=6, num_heads=1, out_layers=[1, 3, 4, 5],
            alt_start=3, qknorm_start=3, rope_start=3, cat_token=True, img_size=126,
            ffn_layer="swiglufused",
        ),
        head={"type": "DualDPT", "dim_in": 128, "output_dim": 2, "features": 16,
              "out_channels": [8, 16, 32, 32]},
        # trunk_depth 2 instead of the default 4: smaller file, and a loader that
        # ignores architecture.cam_enc.trunk_depth fails here
        cam_enc={"dim_out": 64, "trunk_depth": 2},
        cam_dec={"dim_in": 128},
        cases=[
            Case("1view_70x98", views=1, height=70, width=98, seed=31),
            Case("3view_56x70", views=3, height=56, width=70, seed=16, expect_ref_reorder=True),
            Case("2view_posed_56x70", views=2, height=56, width=70, seed=33, with_pose=True),
        ],
    )
)


def architecture_dict(spec: FixtureSpec) -> dict:
    """The "architecture" entry of config.json: the reference yaml layout with resolved values.

    Constructor arguments left at their defaults are still written where they decide
    the structure or the forward pass (e.g. DPT's use_sky_head / pos_embed, whose
    defaults differ between DPT and DualDPT), so the C++ loader needs no table of
    reference defaults beyond what is listed in tools/reference/README.md.
    """
    n = spec.net
    arch = {
        "net": {
            "name": "custom",
            "embed_dim": n.embed_dim,
            "depth": n.depth,
            "num_heads": n.num_heads,
            "mlp_ratio": n.mlp_ratio,
            "ffn_layer": n.ffn_layer,
            "patch_size": PATCH_SIZE,
            "img_size": n.img_size,
            "out_layers": list(n.out_layers),
            "alt_start": n.alt_start,
            "qknorm_start": n.qknorm_start,
            "rope_start": n.rope_start,
            "cat_token": n.cat_token,
        },
        "head": dict(spec.head),
    }
    head = arch["head"]
    head["patch_size"] = PATCH_SIZE
    if head["type"] == "DualDPT":
        head["pos_embed"] = True  # DualDPT default
    else:
        head["pos_embed"] = False  # DPT defaults
        head["use_sky_head"] = True
    if spec.cam_enc is not None:
        # CameraEnc defaults (the presets only set dim_out): 4 trunk blocks, 16 heads.
        arch["cam_enc"] = {"trunk_depth": 4, "num_heads": 16, **spec.cam_enc}
    if spec.cam_dec is not None:
        arch["cam_dec"] = {"dim_in": spec.cam_dec["dim_in"]}
    return arch


# --------------------------------------------------------------------------------------
# Building the network
# --------------------------------------------------------------------------------------


def build_net(spec: FixtureSpec) -> DepthAnything3Net:
    n = spec.net
    # DinoV2 only knows the full-size names; it builds a ViT-S that we replace at once
    # with a tiny DinoVisionTransformer made with the same arguments DinoV2 would pass
    # (patch 14, the alt/qknorm/rope starts, cat_token). DinoV2.forward only calls
    # self.pretrained.get_intermediate_layers(x, self.out_layers), so `name` is unused.
    backbone = DinoV2(
        name="vits",
        out_layers=list(n.out_layers),
        alt_start=n.alt_start,
        qknorm_start=n.qknorm_start,
        rope_start=n.rope_start,
        cat_token=n.cat_token,
    )
    backbone.pretrained = DinoVisionTransformer(
        img_size=n.img_size,
        patch_size=PATCH_SIZE,
        embed_dim=n.embed_dim,
        depth=n.depth,
        num_heads=n.num_heads,
        mlp_ratio=n.mlp_ratio,
        ffn_layer=n.ffn_layer,
        alt_start=n.alt_start,
        qknorm_start=n.qknorm_start,
        rope_start=n.rope_start,
        cat_token=n.cat_token,
    )

    head_args = {k: v for k, v in spec.head.items() if k != "type"}
    head_cls = {"DualDPT": DualDPT, "DPT": DPT}[spec.head["type"]]
    head = head_cls(**head_args)

    cam_enc = CameraEnc(**spec.cam_enc) if spec.cam_enc else None
    cam_dec = CameraDec(**spec.cam_dec) if spec.cam_dec else None
    return DepthAnything3Net(net=backbone, head=head, cam_dec=cam_dec, cam_enc=cam_enc)


@contextlib.contextmanager
def patched(owner, name: str, replacement):
    """Temporarily replace owner.<name>, a module global or an instance's method
    (used to observe or inject reference internals)."""
    own = name in vars(owner)  # False for a method looked up on the class
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield original
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def build_wrapper(spec: FixtureSpec, net: DepthAnything3Net) -> DepthAnything3:
    """The Hugging Face wrapper DepthAnything3(model_name=preset), holding our tiny net.

    DepthAnything3.__init__ builds the full-size preset with create_object(); we hand it
    the tiny net instead so nothing large is allocated. Everything else (the mixin that
    records {"model_name": ...} for config.json, save_pretrained) is the reference's own.
    """
    with patched(da3_api, "create_object", lambda cfg: net):
        wrapper = DepthAnything3(model_name=spec.preset)
    assert wrapper.model is net
    wrapper.eval()
    return wrapper


# --------------------------------------------------------------------------------------
# Redrawing every parameter
# --------------------------------------------------------------------------------------


# redraw_parameters / scale_output_layers live in weight_redraw.py (torch and the model package
# only), shared with tools/gpu/ where the rest of this file cannot be imported.
from weight_redraw import redraw_parameters, scale_output_layers  # noqa: E402,F401


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def make_image(case: Case, g: torch.Generator) -> torch.Tensor:
    """A smooth random RGB image in [0, 1] per view, ImageNet-normalised: (1, N, 3, H, W)."""
    coarse = torch.rand(case.views, 3, max(2, case.height // 14), max(2, case.width // 14), generator=g)
    smooth = torch.nn.functional.interpolate(
        coarse, size=(case.height, case.width), mode="bilinear", align_corners=False
    )
    fine = torch.rand(case.views, 3, case.height, case.width, generator=g)
    rgb = (0.8 * smooth + 0.2 * fine).clamp(0, 1).unsqueeze(0)
    return ((rgb - IMAGENET_MEAN) / IMAGENET_STD).float().contiguous()


def random_rotation(g: torch.Generator) -> torch.Tensor:
    q = torch.randn(4, generator=g, dtype=torch.float64)
    q = q / q.norm()
    w, x, y, z = q.tolist()
    return torch.tensor(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=torch.float64,
    )


def make_poses(case: Case, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """World-to-camera extrinsics (1, N, 4, 4) and pixel intrinsics (1, N, 3, 3)."""
    ext = torch.zeros(1, case.views, 4, 4, dtype=torch.float64)
    ixt = torch.zeros(1, case.views, 3, 3, dtype=torch.float64)
    for v in range(case.views):
        ext[0, v, :3, :3] = random_rotation(g)
        ext[0, v, :3, 3] = torch.randn(3, generator=g, dtype=torch.float64)
        ext[0, v, 3, 3] = 1.0
        f = max(case.height, case.width) * (0.8 + 0.4 * torch.rand(2, generator=g, dtype=torch.float64))
        ixt[0, v, 0, 0] = f[0]
        ixt[0, v, 1, 1] = f[1]
        ixt[0, v, 0, 2] = case.width / 2 + torch.randn((), generator=g, dtype=torch.float64).item()
        ixt[0, v, 1, 2] = case.height / 2 + torch.randn((), generator=g, dtype=torch.float64).item()
        ixt[0, v, 2, 2] = 1.0
    return ext.float(), ixt.float()


# --------------------------------------------------------------------------------------
# Recording intermediates
# --------------------------------------------------------------------------------------


class Recorder:
    """Hooks that copy named intermediates out of one forward pass.

    All recorded tensors are reshaped to a leading (B=1, N) pair where the reference
    flattens batch and views, and cloned: the reference writes camera tokens into a
    block output in place (x[:, :, 0] = cam_token), which would otherwise alter what
    was recorded.
    """

    def __init__(self, net: DepthAnything3Net, views: int):
        self.net = net
        self.views = views
        self.tensors: dict[str, torch.Tensor] = {}
        self._handles = []
        self._stack = contextlib.ExitStack()

    def put(self, name: str, t: torch.Tensor) -> None:
        assert name not in self.tensors, f"recorded twice: {name}"
        self.tensors[name] = t.detach().clone().contiguous()

    def per_view(self, t: torch.Tensor) -> torch.Tensor:
        """(B*N, ...) or (B, N*T, C) -> (1, N, ...)."""
        if t.shape[0] == self.views:
            return t.unsqueeze(0)
        return t.reshape(1, self.views, -1, t.shape[-1])

    def __enter__(self) -> "Recorder":
        net, vit = self.net, self.net.backbone.pretrained
        hook = self._handles.append

        hook(vit.patch_embed.register_forward_hook(
            lambda m, i, o: self.put("backbone.patch_embed", self.per_view(o))))

        # prepare_tokens_with_masks / interpolate_pos_encoding are methods, not modules:
        # wrap them on the instance.
        def tokens(x, *a, _orig=vit.prepare_tokens_with_masks, **k):
            out = _orig(x, *a, **k)
            self.put("backbone.tokens", out)
            return out

        def pos_embed(x, w, h, _orig=vit.interpolate_pos_encoding):
            out = _orig(x, w, h)
            self.put("backbone.pos_embed", out)
            return out

        self._stack.enter_context(patched(vit, "prepare_tokens_with_masks", tokens))
        self._stack.enter_context(patched(vit, "interpolate_pos_encoding", pos_embed))

        # A block's input is the previous block's output except where the reference
        # rewrites it: reference-view reordering (before block alt_start-1) and the camera
        # token written into token 0 (before block alt_start). Store inputs only there.
        def block_in(m, args, i):
            x = self.per_view(args[0])
            prev = self.tensors["backbone.tokens"] if i == 0 else self.tensors[f"backbone.blocks.{i - 1}.out"]
            if not torch.equal(x, prev):
                self.put(f"backbone.blocks.{i}.in", x)

        for i, blk in enumerate(vit.blocks):
            hook(blk.register_forward_pre_hook(lambda m, args, i=i: block_in(m, args, i)))
            hook(blk.register_forward_hook(
                lambda m, args, o, i=i: self.put(f"backbone.blocks.{i}.out", self.per_view(o))))

        def select_ref(x, strategy="saddle_balanced", _orig=vit_module.select_reference_view):
            b_idx = _orig(x, strategy=strategy)
            self.put("backbone.ref_view_index", b_idx)
            return b_idx

        self._stack.enter_context(patched(vit_module, "select_reference_view", select_ref))

        def backbone_out(m, args, out):
            feats, _aux = out
            for k, (patch_tokens, token0) in enumerate(feats):
                self.put(f"backbone.out.{k}.patch_tokens", patch_tokens)
                self.put(f"backbone.out.{k}.token0", token0)

        hook(net.backbone.register_forward_hook(backbone_out))

        if net.cam_enc is not None:
            hook(net.cam_enc.pose_branch.register_forward_pre_hook(
                lambda m, args: self.put("cam_enc.pose_encoding", args[0])))
            hook(net.cam_enc.register_forward_hook(
                lambda m, args, o: self.put("cam_enc.tokens", o)))
        if net.cam_dec is not None:
            hook(net.cam_dec.register_forward_hook(
                lambda m, args, o: self.put("cam_dec.pose_enc", o)))

        head = net.head
        for k, layer in enumerate(head.resize_layers):
            hook(layer.register_forward_hook(
                lambda m, args, o, k=k: self.put(f"head.resize.{k}", self.per_view(o))))
        hook(head.scratch.output_conv1.register_forward_hook(
            lambda m, args, o: self.put("head.output_conv1", self.per_view(o))))

        def head_out(m, args, out):
            for key, value in out.items():
                self.put(f"head.{key}", value)

        hook(head.register_forward_hook(head_out))

        # Ray pose: RANSAC draws its sample sets from the global torch RNG; record them
        # so a port can replay the exact same hypotheses.
        def ransac_params(N, device, _orig=ray_utils.get_params_for_ransac):
            params = _orig(N, device)
            self.put("ray_pose.ransac_sample_idx", params[3])
            return params

        self._stack.enter_context(patched(ray_utils, "get_params_for_ransac", ransac_params))

        # Sky handling: the depth the sky pixels were set to (0.99 quantile of non-sky).
        def sky_fill(depth, depth_conf, non_sky_mask, max_depth=200.0,
                     _orig=da3_net_module.set_sky_regions_to_max_depth):
            self.put("sky.fill_depth", torch.as_tensor(max_depth, dtype=torch.float32).reshape(1))
            return _orig(depth, depth_conf, non_sky_mask, max_depth=max_depth)

        self._stack.enter_context(patched(da3_net_module, "set_sky_regions_to_max_depth", sky_fill))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._stack.close()


# --------------------------------------------------------------------------------------
# Writing a fixture
# --------------------------------------------------------------------------------------


def canonicalize_header(path: Path) -> None:
    """Sort the __metadata__ entries of a safetensors header, in place.

    The safetensors writer keeps __metadata__ in a hash map, so its order (and the
    file's bytes) changes from run to run although nothing else does. Rewriting it
    sorted keeps the header the same length and makes reruns byte-identical.
    """
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    if "__metadata__" not in header:
        return
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > n or json.loads(text) != json.loads(raw[8:8 + n]):
        raise RuntimeError(f"cannot canonicalise the header of {path}")
    raw[8:8 + n] = text + b" " * (n - len(text))  # safetensors pads with spaces
    path.write_bytes(bytes(raw))


def tied_aliases(wrapper: nn.Module) -> dict[str, str]:
    """Keys sharing storage with an earlier state_dict key, from torch (not the file)."""
    first_by_storage: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for key, t in wrapper.state_dict(keep_vars=True).items():
        sig = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
        if sig in first_by_storage:
            aliases[key] = first_by_storage[sig]
        else:
            first_by_storage[sig] = key
    return aliases


def write_manifest(wrapper: DepthAnything3, fixture_dir: Path, spec: FixtureSpec) -> dict:
    state = wrapper.state_dict()
    model_file = fixture_dir / "model.safetensors"
    with safe_open(str(model_file), framework="pt") as f:
        stored = set(f.keys())
        file_meta = dict(f.metadata() or {})

    # save_pretrained (safetensors.torch.save_model) drops all but one key of each group
    # of tied tensors and records "dropped key": "kept key" in __metadata__.
    file_aliases = {k: v for k, v in file_meta.items() if k in state}
    torch_groups = tied_aliases(wrapper)
    absent = sorted(set(state) - stored)
    if sorted(file_aliases) != absent:
        raise RuntimeError(f"file metadata aliases {sorted(file_aliases)} != absent keys {absent}")
    for dropped, kept in file_aliases.items():
        assert kept in stored and torch.equal(state[dropped], state[kept])
        root_d = torch_groups.get(dropped, dropped)
        root_k = torch_groups.get(kept, kept)
        assert root_d == root_k, f"{dropped} and {kept} are not tied in torch"

    # The stored tensors must equal the live parameters bit for bit.
    on_disk = load_file(str(model_file))
    for key, t in on_disk.items():
        assert torch.equal(t, state[key]), key

    manifest = {
        "fixture": spec.name,
        "description": spec.description,
        "model_file": "model.safetensors",
        "num_state_dict_keys": len(state),
        "num_stored_tensors": len(stored),
        "tensors": [
            {"name": k, "shape": list(v.shape), "dtype": "F32" if v.dtype == torch.float32 else str(v.dtype),
             "stored": k in stored}
            for k, v in state.items()
        ],
        "aliases": dict(sorted(file_aliases.items())),
        "aliases_note": (
            "keys absent from model.safetensors because save_pretrained de-duplicated tied "
            "tensors; each maps to the stored key holding the same data (copied from the "
            "safetensors __metadata__ and verified against torch storage sharing)"
        ),
        "safetensors_metadata": dict(sorted(file_meta.items())),
        "generator": generator_info(),
    }
    (fixture_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def generator_info() -> dict:
    return {
        "script": "tools/reference/make_fixtures.py",
        "depth_anything_3": getattr(depth_anything_3, "__version__", "0.1.1"),
        "torch": torch.__version__,
    }


def compute_case(net: DepthAnything3Net, spec: FixtureSpec, case: Case) -> tuple[dict, dict, dict]:
    """Run one case; returns (tensors to store, file metadata, final outputs)."""
    g = torch.Generator().manual_seed(case.seed)
    image = make_image(case, g)
    inputs = {"image": image}
    extrinsics = intrinsics = None
    if case.with_pose:
        extrinsics, intrinsics = make_poses(case, g)
        inputs["extrinsics"] = extrinsics
        inputs["intrinsics"] = intrinsics

    # The global RNG feeds RANSAC (ray pose) and the sky quantile subsample (> 100k px).
    torch.manual_seed(case.seed)
    with Recorder(net, case.views) as rec, torch.no_grad():
        # Call the network directly: DepthAnything3.forward / .inference() wrap it in
        # autocast (float16 on CPU), the fixtures are the fp32 reference.
        out = net(
            image,
            extrinsics,
            intrinsics,
            export_feat_layers=list(case.export_feat_layers),
            infer_gs=False,
            use_ray_pose=case.use_ray_pose,
            ref_view_strategy="saddle_balanced",
        )

    outputs = {}
    for layer_name, feat in out.get("aux", {}).items():
        outputs[f"aux.{layer_name}"] = feat  # exported features: (B, S, h/14, w/14, C)
    for key, value in out.items():
        if not isinstance(value, torch.Tensor):
            continue  # "aux" was taken above
        # "pred_" keeps predicted cameras apart from the input cameras of posed cases
        name = {"extrinsics": "pred_extrinsics", "intrinsics": "pred_intrinsics"}.get(key, key)
        assert value.dtype == torch.float32, f"{key} is {value.dtype}, expected fp32"
        outputs[name] = value

    recorded = dict(rec.tensors)
    for key in list(recorded):
        name = key.removeprefix("head.")
        if name in outputs and torch.equal(recorded[key], outputs[name]):
            del recorded[key]  # head output passed through unchanged: stored once, as the output
    if not case.use_ray_pose:
        # With a camera decoder the ray branch is computed and then discarded; only the
        # ray-pose case uses it.
        recorded.pop("head.ray", None)
        recorded.pop("head.ray_conf", None)

    tensors = {k: v.contiguous() for k, v in {**inputs, **outputs, **recorded}.items()}
    where = f"{spec.name}/{case.name}"
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise RuntimeError(f"{where}: non-finite values in {k}")
    # Make sure each case exercises the path it is meant for.
    if case.expect_ref_reorder and int(tensors["backbone.ref_view_index"][0]) == 0:
        raise RuntimeError(f"{where}: reference view is 0, reordering not exercised; change the seed")
    if case.use_ray_pose and "ray_pose.ransac_sample_idx" not in tensors:
        raise RuntimeError(f"{where}: ray pose path not taken")
    if "sky" in outputs:
        if "sky.fill_depth" not in tensors:
            raise RuntimeError(f"{where}: sky replacement not exercised (too few sky/non-sky pixels)")
        # A sky value next to the threshold would let a port's rounding flip that pixel
        # between its depth and the fill depth.
        margin = (outputs["sky"] - SKY_THRESHOLD).abs().min().item()
        if margin < SKY_MARGIN:
            raise RuntimeError(f"{where}: a sky value is {margin:.2g} from the threshold; change the seed")

    metadata = {
        "fixture": spec.name,
        "case": case.name,
        "views": str(case.views),
        "height": str(case.height),
        "width": str(case.width),
        "with_pose": str(case.with_pose).lower(),
        "use_ray_pose": str(case.use_ray_pose).lower(),
        "ref_view_strategy": "saddle_balanced",
        "seed": str(case.seed),
        "export_feat_layers": ",".join(str(i) for i in case.export_feat_layers),
        "inputs": ",".join(inputs),
        "outputs": ",".join(outputs),
    }
    return tensors, metadata, outputs


def case_file(fixture_dir: Path, case: Case) -> Path:
    return fixture_dir / f"forward_{case.name}.safetensors"


def load_fixture_net(spec: FixtureSpec, fixture_dir: Path) -> DepthAnything3Net:
    """A freshly built (default-initialised) network with the fixture's model.safetensors
    loaded, the de-duplicated keys resolved through the file's __metadata__ (the same job the
    C++ loader has to do)."""
    torch.manual_seed(0)
    net = build_net(spec)
    wrapper = build_wrapper(spec, net)
    model_file = str(fixture_dir / "model.safetensors")
    state = load_file(model_file)
    with safe_open(model_file, framework="pt") as f:
        for dropped, kept in (f.metadata() or {}).items():
            if kept in state:
                state[dropped] = state[kept]
    wrapper.load_state_dict(state, strict=True)
    return net


def verify_reload(spec: FixtureSpec, fixture_dir: Path) -> None:
    """Rerun every case on the network loaded from the fixture's own file: the stored file
    alone must reproduce the stored forward tensors exactly."""
    net = load_fixture_net(spec, fixture_dir)
    for case in spec.cases:
        tensors, _, _ = compute_case(net, spec, case)
        stored = load_file(str(case_file(fixture_dir, case)))
        assert stored.keys() == tensors.keys(), f"{case.name}: tensor names differ on reload"
        for k, v in tensors.items():
            if not torch.equal(v, stored[k]):
                raise RuntimeError(f"{spec.name}/{case.name}: {k} differs after reloading the weights")


def describe_outputs(outputs: dict[str, torch.Tensor]) -> str:
    parts = []
    for k in ("depth", "depth_conf", "sky"):
        if k in outputs:
            v = outputs[k]
            parts.append(f"{k} [{v.min():.3g}, {v.max():.3g}] std {v.std():.3g}")
    return "; ".join(parts)


def make_fixture(spec: FixtureSpec, out_root: Path, verbose: bool = True) -> None:
    fixture_dir = out_root / spec.name
    if fixture_dir.exists():
        shutil.rmtree(fixture_dir)
    fixture_dir.mkdir(parents=True)

    torch.manual_seed(spec.param_seed)  # construction draws from the global RNG; redrawn below
    net = build_net(spec)
    redraw_parameters(net, spec.param_seed)
    wrapper = build_wrapper(spec, net)

    # The reference's own writer: model.safetensors + config.json ({"model_name": preset}
    # captured by PyTorchModelHubMixin), with our "architecture" entry added.
    config = dict(wrapper._hub_mixin_config or {})
    assert config.get("model_name") == spec.preset, config
    config["architecture"] = architecture_dict(spec)
    wrapper.save_pretrained(fixture_dir, config=config)
    canonicalize_header(fixture_dir / "model.safetensors")
    (fixture_dir / "README.md").unlink(missing_ok=True)  # generated model card, not needed

    write_manifest(wrapper, fixture_dir, spec)
    if verbose:
        n_params = sum(p.numel() for p in net.parameters())
        print(f"{spec.name}: {n_params} parameters")

    for case in spec.cases:
        tensors, metadata, outputs = compute_case(net, spec, case)
        path = case_file(fixture_dir, case)
        save_file(tensors, str(path), metadata=metadata)
        canonicalize_header(path)
        if verbose:
            print(f"  {path.name}: {describe_outputs(outputs)}")

    verify_reload(spec, fixture_dir)


# --------------------------------------------------------------------------------------
# --check
# --------------------------------------------------------------------------------------


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a64, b64 = a.double(), b.double()
    denom = b64.norm().item()
    return (a64 - b64).norm().item() / (denom if denom > 0 else 1.0)


def compare_safetensors(new: Path, old: Path, exact_keys: set[str]) -> list[str]:
    problems = []
    with safe_open(str(new), framework="pt") as fa, safe_open(str(old), framework="pt") as fb:
        if (fa.metadata() or {}) != (fb.metadata() or {}):
            problems.append(f"__metadata__ differs: {fa.metadata()} vs committed {fb.metadata()}")
    a, b = load_file(str(new)), load_file(str(old))
    if set(a) != set(b):
        problems.append(f"keys differ: only new {sorted(set(a) - set(b))}, only committed {sorted(set(b) - set(a))}")
    worst = 0.0
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.shape != y.shape or x.dtype != y.dtype:
            problems.append(f"{k}: {x.dtype}{list(x.shape)} vs committed {y.dtype}{list(y.shape)}")
        elif torch.equal(x, y):
            continue
        elif k in exact_keys or not x.is_floating_point():
            problems.append(f"{k}: differs (must match exactly)")
        else:
            err = _rel_err(x, y)
            worst = max(worst, err)
            if err > CHECK_RTOL:
                problems.append(f"{k}: relative error {err:.3g} > {CHECK_RTOL}")
    if not problems and worst > 0:
        print(f"    {new.name}: equal within tolerance (worst relative error {worst:.3g})")
    return problems


def check(out_root: Path, names: list[str]) -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_root = Path(tmp)
        for name in names:
            make_fixture(FIXTURES[name], tmp_root, verbose=False)
            new_dir, old_dir = tmp_root / name, out_root / name
            print(f"{name}:")
            new_files = sorted(p.name for p in new_dir.iterdir())
            old_files = sorted(p.name for p in old_dir.iterdir()) if old_dir.exists() else []
            if new_files != old_files:
                print(f"  file lists differ: new {new_files}, committed {old_files}")
                failures += 1
            for fname in new_files:
                if fname not in old_files:
                    continue
                new, old = new_dir / fname, old_dir / fname
                if new.read_bytes() == old.read_bytes():
                    print(f"  {fname}: identical")
                    continue
                if fname.endswith(".json"):
                    jn, jo = json.loads(new.read_text()), json.loads(old.read_text())
                    jn.pop("generator", None), jo.pop("generator", None)
                    problems = [] if jn == jo else ["content differs"]
                    if not problems:
                        print(f"  {fname}: same content (generator versions differ)")
                        continue
                else:
                    # weights and inputs come from seeded generators: exact
                    exact = {"image", "extrinsics", "intrinsics"}
                    if fname == "model.safetensors":
                        exact = set(load_file(str(new)))
                    problems = compare_safetensors(new, old, exact)
                    if not problems:
                        continue
                failures += 1
                print(f"  {fname}: DIFFERENT")
                for p in problems[:20]:
                    print(f"    {p}")
    print("check: OK" if failures == 0 else f"check: {failures} file(s) differ")
    return 0 if failures == 0 else 1


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture root (default: tests/fixtures)")
    parser.add_argument("--only", action="append", choices=sorted(FIXTURES), help="fixture to build (repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and compare with --out")
    args = parser.parse_args(argv)

    # Reproducibility: one thread (reductions do not depend on the thread split),
    # deterministic kernels, fp32 matmuls without TF32-like shortcuts.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_float32_matmul_precision("highest")

    names = args.only or list(FIXTURES)
    if args.check:
        return check(args.out, names)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        make_fixture(FIXTURES[name], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
