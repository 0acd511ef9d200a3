#!/usr/bin/env python3
"""PyTorch's GPU attention on issue 16's shapes, with the backend it picks named (FA2, cuDNN,
memory-efficient or math), for the "never slower than PyTorch's SDPA" comparison.

For each case (batch, heads, tokens; head dim 64; (B, H, N, D) inputs) and dtype, times
F.scaled_dot_product_attention as called (torch's own choice), then each backend forced through
torch.nn.attention.sdpa_kernel, and names the one the default call ran by the CUDA kernels a
profiled call launched. Prints one line per (case, dtype, backend) and writes the rows as JSON in
the schema of `da3 bench attention --json` (backend "torch_sdpa" for the default call, with the
picked backend in "torch_backend"; "torch_sdpa:<backend>" for the forced ones).

  python3 bench/torch_sdpa_backends.py --json out.json            # on the GPU machine
  python3 bench/torch_sdpa_backends.py --device cpu --cases 1x2x64 --repeat 2   # a dry run
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# Issue 16's table: 4- and 16-view global layers (batch 1), 8- and 16-view local layers
# (1297 tokens a view, batch 8 / 16), all with 16 heads (ViT-L), plus a ViT-S/B local layer.
DEFAULT_CASES = "1x16x5188,1x16x20752,8x16x1297,16x16x1297,1x16x1297,1x6x1297,1x12x1297"

FORCED = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
          "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}


def picked_backend(q, k, v) -> str:
    """Which backend a default call ran, from the names of the CUDA kernels it launched."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        F.scaled_dot_product_attention(q, k, v)
        torch.cuda.synchronize()
    names = " ".join(e.name.lower() for e in prof.events())
    for key, name in (("flash", "flash"), ("cudnn", "cudnn"), ("fmha", "efficient"), ("mem_eff", "efficient"),
                      ("cutlass", "efficient")):
        if key in names:
            return name
    return "math" if names else "unknown"


def time_call(fn, device: str, repeat: int) -> float:
    """Median milliseconds of fn() after three warm-ups."""
    for _ in range(3):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
        ts = []
        for _ in range(repeat):
            ev[0].record()
            fn()
            ev[1].record()
            torch.cuda.synchronize()
            ts.append(ev[0].elapsed_time(ev[1]))
    else:
        import time
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=DEFAULT_CASES, help="BxHxN,... (default: issue 16's shapes)")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("torch_sdpa_backends: no CUDA device visible to torch", file=sys.stderr)
        return 2
    where = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {where}")
    print(f"{'batch':>5} {'heads':>5} {'tokens':>7} {'dtype':>5} {'backend':<26} {'median_ms':>10} {'TFLOP/s':>8}")
    dts = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
    rows = []
    for case in a.cases.split(","):
        b, h, n = (int(x) for x in case.split("x"))
        for dname in a.dtypes.split(","):
            q, k, v = (torch.randn(b, h, n, 64, device=a.device, dtype=dts[dname]) for _ in range(3))
            flops = 4.0 * b * h * n * n * 64
            picked = picked_backend(q, k, v) if a.device == "cuda" else "n/a"
            runs = [("torch_sdpa", None)] + [(f"torch_sdpa:{name}", be) for name, be in FORCED.items()]
            for label, be in runs:
                if be is SDPBackend.MATH and n > 8192:
                    continue  # materialises the N x N scores: minutes and tens of GB
                try:
                    if be is None:
                        ms = time_call(lambda: F.scaled_dot_product_attention(q, k, v), a.device, a.repeat)
                    else:
                        with sdpa_kernel(be):
                            ms = time_call(lambda: F.scaled_dot_product_attention(q, k, v), a.device, a.repeat)
                except RuntimeError as e:  # this backend does not take the case
                    print(f"{b:5d} {h:5d} {n:7d} {dname:>5} {label:<26} unavailable: {str(e).splitlines()[0][:80]}")
                    continue
                tf = flops / (ms * 1e-3) * 1e-12
                shown = label + (f" ({picked})" if be is None else "")
                print(f"{b:5d} {h:5d} {n:7d} {dname:>5} {shown:<26} {ms:10.3f} {tf:8.1f}")
                rows.append(dict(batch=b, heads=h, head_dim=64, tokens=n, backend=label, dtype=dname,
                                 device=a.device, median_ms=ms, gflops=tf * 1e3,
                                 **({"torch_backend": picked} if be is None else {})))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
