#!/usr/bin/env python3
"""Head-only reference fixtures for the head options no published preset uses.

make_fixtures.py covers the heads as the seven presets configure them (DualDPT with
output_dim 2, 4 aux levels, 5 aux pre-convs; DPT with output_dim 1 and a ReLU sky head).
A config.json "architecture" may set the other constructor options too, so this script
runs the reference heads alone with those options changed:

  head-variants/dpt      DPT: output_dim 3 (values + confidence), UV pos-embed on,
                         down_ratio 2, softplus / sigmoid activations, sigmoid sky
  head-variants/dualdpt  DualDPT: output_dim 4, down_ratio 2, 5 aux levels (so the
                         aux pre-head and output stacks use different level indices),
                         3 aux pre-convs, expm1 activation

Each directory gets config.json (an "architecture" with a minimal valid "net"; the
backbone weights are absent, the C++ test builds only the head), model.safetensors
(the head's weights under "model.head.", written by safetensors' save_model, which
de-duplicates the shared aux LayerNorm exactly as save_pretrained does) and
head_<case>.safetensors with the head's inputs and raw outputs.

Weights are drawn by make_fixtures.redraw_parameters; the script is deterministic and
reruns are byte-identical.

Usage (repository root):
  tools/reference/.venv/bin/python tools/reference/make_head_fixtures.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import save_file, save_model  # noqa: E402

import make_fixtures as mf  # noqa: E402  (also silences the reference's import-time logging)
from depth_anything_3.model.dpt import DPT  # noqa: E402
from depth_anything_3.model.dualdpt import DualDPT  # noqa: E402

OUT = mf.DEFAULT_OUT / "head-variants"

# name -> (class, constructor args, parameter seed, cases [(case name, views, H, W, seed)])
HEADS = {
    "dpt": (
        DPT,
        dict(dim_in=24, output_dim=3, features=8, out_channels=[8, 16, 24, 32], pos_embed=True,
             down_ratio=2, activation="softplus", conf_activation="sigmoid", use_sky_head=True,
             sky_activation="sigmoid"),
        4004,
        [("2view_42x70", 2, 42, 70, 41)],
    ),
    "dualdpt": (
        DualDPT,
        dict(dim_in=24, output_dim=4, features=8, out_channels=[8, 16, 24, 32], pos_embed=True,
             down_ratio=2, activation="expm1", conf_activation="expp1", aux_pyramid_levels=5,
             aux_out1_conv_num=3),
        5005,
        [("2view_56x42", 2, 56, 42, 51)],
    ),
}

# A backbone section that parses and matches dim_in (never built by the head test).
NETS = {
    "dpt": {"name": "custom", "embed_dim": 24, "depth": 4, "num_heads": 2, "out_layers": [0, 1, 2, 3],
            "patch_size": mf.PATCH_SIZE, "alt_start": -1, "qknorm_start": -1, "rope_start": -1,
            "cat_token": False},
    "dualdpt": {"name": "custom", "embed_dim": 12, "depth": 4, "num_heads": 2, "out_layers": [0, 1, 2, 3],
                "patch_size": mf.PATCH_SIZE, "alt_start": 2, "qknorm_start": 2, "rope_start": 2,
                "cat_token": True},
}


class Holder(nn.Module):
    """model.head, as in the full checkpoint; also what make_fixtures' redraw expects
    (a module with .head and .cam_dec)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head
        self.cam_dec = None


def make(name: str) -> None:
    cls, args, seed, cases = HEADS[name]
    out_dir = OUT / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)

    torch.manual_seed(seed)
    head = cls(patch_size=mf.PATCH_SIZE, **args).eval()
    holder = Holder(head)
    mf.redraw_parameters(holder, seed)
    root = nn.Module()
    root.model = holder

    arch = {"net": NETS[name], "head": {"type": cls.__name__, "patch_size": mf.PATCH_SIZE, **args}}
    (out_dir / "config.json").write_text(json.dumps({"architecture": arch, "model_name": "custom"},
                                                    indent=2, sort_keys=True) + "\n")
    save_model(root, str(out_dir / "model.safetensors"))
    mf.canonicalize_header(out_dir / "model.safetensors")

    for case, views, height, width, case_seed in cases:
        g = torch.Generator().manual_seed(case_seed)
        patches = (height // mf.PATCH_SIZE) * (width // mf.PATCH_SIZE)
        feats = [torch.randn(1, views, patches, args["dim_in"], generator=g) for _ in range(4)]
        with torch.no_grad():
            # The head takes [(patch tokens, camera token)] per level; only [0] is read.
            out = head([(f, None) for f in feats], height, width, patch_start_idx=0)
        tensors = {f"feats.{k}": f for k, f in enumerate(feats)}
        tensors.update({k: v.contiguous() for k, v in out.items()})
        for k, v in tensors.items():
            if not torch.isfinite(v).all():
                raise RuntimeError(f"{name}/{case}: non-finite values in {k}")
        path = out_dir / f"head_{case}.safetensors"
        save_file(tensors, str(path), metadata={"head": cls.__name__, "views": str(views),
                                                "height": str(height), "width": str(width),
                                                "seed": str(case_seed)})
        mf.canonicalize_header(path)
        shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in out.items())
        print(f"head-variants/{name}/{path.name}: {shapes}")


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in HEADS:
        make(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
