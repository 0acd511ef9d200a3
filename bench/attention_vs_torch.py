#!/usr/bin/env python3
"""Our attention backends and PyTorch's, side by side, as ratios.

Per configuration it alternates `da3 bench attention` (flash_attn, sdpa) and torch
(scaled_dot_product_attention and the reference's non-fused path) for --rounds rounds, with the
same thread count, and keeps each backend's best median: on a shared machine, a neighbour's burst
hits one round, not all of them. Prints GFLOP/s (4·N²·D·heads per call), % of --peak-gflops, and
flash_attn / torch_sdpa.

  tools/reference/.venv/bin/python bench/attention_vs_torch.py --da3 build/release/da3 \\
      --threads 2 --tokens 256,1297,5188 --heads 6,16 --peak-gflops 80 --json out.json
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F


def torch_times(n, heads, d, repeat):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, heads, n, d, generator=g) for _ in range(3))
    scale = d ** -0.5

    def manual():
        return ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v

    out = {}
    for name, fn in (("torch_sdpa", lambda: F.scaled_dot_product_attention(q, k, v)), ("torch_manual", manual)):
        with torch.inference_mode():
            fn()
            ms = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                ms.append((time.perf_counter() - t0) * 1e3)
        out[name] = statistics.median(ms)
    return out


def da3_times(exe, n, heads, d, repeat, threads):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        subprocess.run([exe, "-t", str(threads), "bench", "attention", "--tokens", str(n), "--heads", str(heads),
                        "--head-dim", str(d), "--backends", "flash_attn,sdpa", "--repeat", str(repeat), "--no-check",
                        "--json", path], check=True, stdout=subprocess.DEVNULL)
        return {r["backend"]: r["median_ms"] for r in json.load(open(path))}
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--da3", default="build/release/da3")
    ap.add_argument("--tokens", default="256,529,1024,1297,1369,5188")
    ap.add_argument("--heads", default="6,16")
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peak-gflops", type=float, default=0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = ["flash_attn", "sdpa", "torch_sdpa", "torch_manual"]
    print(f"torch {torch.__version__}; {a.threads} threads; head_dim {a.head_dim}; best of {a.rounds} rounds "
          f"of a median of {a.repeat}")
    hdr = f"{'heads':>5} {'tokens':>6} " + " ".join(f"{n + ' GF/s':>17}" for n in names) + "  flash/torch_sdpa"
    print(hdr)
    rows = []
    for heads in [int(x) for x in a.heads.split(",")]:
        for n in [int(x) for x in a.tokens.split(",")]:
            best = {k: float("inf") for k in names}
            for _ in range(a.rounds):
                for k, ms in da3_times(a.da3, n, heads, a.head_dim, a.repeat, a.threads).items():
                    best[k] = min(best[k], ms)
                for k, ms in torch_times(n, heads, a.head_dim, a.repeat).items():
                    best[k] = min(best[k], ms)
            flops = 4.0 * n * n * a.head_dim * heads
            gf = {k: flops / (best[k] * 1e-3) * 1e-9 for k in names}
            cells = []
            for k in names:
                pct = f" ({100 * gf[k] / a.peak_gflops:3.0f}%)" if a.peak_gflops else ""
                cells.append(f"{gf[k]:>10.1f}{pct:>7}")
            print(f"{heads:>5} {n:>6} " + " ".join(cells) + f"  {best['torch_sdpa'] / best['flash_attn']:>8.2f}x",
                  flush=True)
            for k in names:
                rows.append({"heads": heads, "head_dim": a.head_dim, "tokens": n, "backend": k, "dtype": "f32",
                             "threads": a.threads, "median_ms": best[k], "gflops": gf[k], "max_rel_err": 0.0,
                             "scratch_bytes": 0})
    if a.json:
        json.dump(rows, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
