#!/usr/bin/env python3
"""Check a tools/gpu/make_random_checkpoint.py directory against the official save path.

    tools/reference/.venv/bin/python tools/gpu/compare_with_official.py --preset da3-small --ours DIR [--seed 1234]

Runs in the full reference venv (tools/reference/setup_env.sh: depth_anything_3.api,
huggingface_hub, safetensors), not on the GPU machine. Builds the checkpoint the official way,
tools/reference/make_checkpoint.py's build() then `DepthAnything3.save_pretrained` (huggingface_hub's
PyTorchModelHubMixin -> safetensors.torch.save_model), into a temporary directory, and compares:
config.json byte for byte; model.safetensors header (tensor names, dtypes, shapes, offsets,
__metadata__ as a mapping) and data byte for byte, and says whether the whole files are
identical (they differ at most in the order of __metadata__ entries, which the safetensors writer
keeps in hash order). Exits 1 on any difference.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "reference"))


def read_header(path: Path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)), 8 + n


def same_bytes(a: Path, a_from: int, b: Path, b_from: int) -> bool:
    """Chunked comparison (a giant checkpoint is 5-6 GiB)."""
    if a.stat().st_size - a_from != b.stat().st_size - b_from:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(a_from)
        fb.seek(b_from)
        while True:
            x, y = fa.read(1 << 24), fb.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--ours", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)

    import torch
    import make_checkpoint as mc  # the official API path (depth_anything_3.api)

    torch.manual_seed(args.seed)
    wrapper = mc.build(args.preset, args.seed)
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        wrapper.save_pretrained(tmp)
        ref = Path(tmp)
        a, b = (ref / "config.json").read_bytes(), (args.ours / "config.json").read_bytes()
        print(f"config.json: {'identical' if a == b else 'DIFFERENT'} ({a!r})")
        if a != b:
            bad.append(f"config.json: official {a!r}, ours {b!r}")
        fa, fb = ref / "model.safetensors", args.ours / "model.safetensors"
        ha, data_a = read_header(fa)
        hb, data_b = read_header(fb)
        del wrapper  # memory, before the files are compared
        ma, mb = ha.pop("__metadata__", None), hb.pop("__metadata__", None)
        if ma != mb:
            bad.append(f"__metadata__: official {ma}, ours {mb}")
        if list(ha) != list(hb):
            only_a, only_b = sorted(set(ha) - set(hb)), sorted(set(hb) - set(ha))
            bad.append(f"tensor names/order differ: only official {only_a[:10]}, only ours {only_b[:10]}")
        for k in ha:
            if k in hb and ha[k] != hb[k]:
                bad.append(f"{k}: official {ha[k]}, ours {hb[k]}")
        if not same_bytes(fa, data_a, fb, data_b):
            bad.append("tensor data differ")
        whole = same_bytes(fa, 0, fb, 0)
        print(f"model.safetensors: {len(ha)} tensors, {(fa.stat().st_size - data_a) / 2**20:.1f} MiB of data, "
              f"__metadata__ {len(ma or {})} entries {sorted((ma or {}).items())[:4]}{' ...' if len(ma or {}) > 4 else ''}; "
              f"whole file {'identical' if whole else 'not byte-identical'}")
    for line in bad:
        print("DIFFERENT:", line)
    print("same checkpoint as the official save_pretrained" if not bad else "checkpoints differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
