#!/usr/bin/env python3
"""A full-size DA3 checkpoint with seeded random weights, on a stock torch venv.

    python3 tools/gpu/make_random_checkpoint.py da3-small models/random-da3-small [--seed 1234] [--wheel gpu-wheels]

Writes OUT_DIR/config.json + OUT_DIR/model.safetensors laid out exactly as the official
`DepthAnything3(model_name=PRESET).save_pretrained(OUT_DIR)` would (same keys, same config.json,
tied tensors stored once), with the weights tools/reference/make_checkpoint.py draws for the same
--seed (same redraw rules, same generator order): the two scripts write the same tensors, and
tools/gpu/compare_with_official.py checks that. Needs only torch, numpy and the wheels of
tools/gpu/fetch_wheel.sh (see tools/gpu/da3_slim.py); no network, no safetensors package.

Presets: every one the reference has (da3-small, da3-base, da3-large, da3-giant, da3mono-large,
da3metric-large, da3nested-giant-large).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import da3_slim  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", help="da3-small, da3-base, da3-large, da3-giant, da3mono-large, ...")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=1234, help="parameter seed (make_checkpoint.py's default: 1234)")
    ap.add_argument("--wheel", help="depth_anything_3 wheel, or a folder of wheels (default: $DA3_GPU_WHEELS, "
                                    "else <repo>/gpu-wheels, else the installed packages)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    da3_slim.setup_imports(args.wheel)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.out_dir / "model.safetensors").exists() and not args.force:
        raise SystemExit(f"{args.out_dir}/model.safetensors exists (pass --force to overwrite)")
    t1 = time.perf_counter()
    wrapper = da3_slim.random_wrapper(args.preset, args.seed)
    t2 = time.perf_counter()
    da3_slim.save_pretrained(wrapper, args.out_dir)
    t3 = time.perf_counter()
    n_params = sum(p.numel() for p in wrapper.parameters())
    size = (args.out_dir / "model.safetensors").stat().st_size
    print(f"wrote {args.out_dir}/model.safetensors: {args.preset}, seed {args.seed}, {n_params / 1e6:.1f} M parameters, "
          f"{size / 2**20:.1f} MiB (imports {t1 - t0:.1f} s, build+draw {t2 - t1:.1f} s, write {t3 - t2:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
