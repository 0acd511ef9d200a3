#!/usr/bin/env python3
"""PyTorch's CPU attention on the shapes `da3 bench attention` uses, for side-by-side ratios.

Times torch.nn.functional.scaled_dot_product_attention (its fused CPU flash kernel in fp32) and
the reference's non-fused path (q*scale @ k^T, softmax, @ v) with the same thread count, and
prints the same columns and JSON schema as `da3 bench attention --json` (backend names
"torch_sdpa" and "torch_manual").

  tools/reference/.venv/bin/python bench/torch_attention.py --threads 2 --tokens 1297 --heads 6,16
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="256,529,1024,1369,1297,5188")
    ap.add_argument("--heads", default="6,12,16,24")
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--backends", default="torch_sdpa,torch_manual")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dt = torch.float32 if a.dtype == "f32" else torch.bfloat16
    rows = []
    print(f"torch {torch.__version__}, {a.threads} threads, head_dim {a.head_dim}, {a.dtype}")
    print(f"{'heads':>5} {'tokens':>7}  {'backend':<13} {'median_ms':>10} {'GFLOP/s':>9}")
    for heads in [int(h) for h in a.heads.split(",")]:
        for n in [int(t) for t in a.tokens.split(",")]:
            g = torch.Generator().manual_seed(0)
            q, k, v = (torch.randn(1, heads, n, a.head_dim, generator=g).to(dt) for _ in range(3))
            scale = a.head_dim ** -0.5

            def manual():
                attn = (q * scale) @ k.transpose(-2, -1)
                return attn.softmax(dim=-1) @ v

            fns = {"torch_sdpa": lambda: F.scaled_dot_product_attention(q, k, v), "torch_manual": manual}
            for name in a.backends.split(","):
                fn = fns[name]
                with torch.inference_mode():
                    fn()
                    ms = []
                    for _ in range(a.repeat):
                        t0 = time.perf_counter()
                        fn()
                        ms.append((time.perf_counter() - t0) * 1e3)
                med = statistics.median(ms)
                gflops = 4.0 * n * n * a.head_dim * heads / (med * 1e-3) * 1e-9
                print(f"{heads:>5} {n:>7}  {name:<13} {med:>10.2f} {gflops:>9.1f}", flush=True)
                rows.append({"heads": heads, "head_dim": a.head_dim, "tokens": n, "backend": name, "dtype": a.dtype,
                             "threads": a.threads, "median_ms": med, "gflops": gflops, "max_rel_err": 0.0,
                             "scratch_bytes": 0})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
