#!/usr/bin/env bash
# What a machine with an NVIDIA GPU runs to check the CUDA attention backends, in one call:
# builds (release, CUDA on), runs every CUDA test, runs the GPU attention benchmark (and
# torch's CUDA SDPA on the same shapes where a CUDA torch is importable), and writes it all to
# files under the results directory.
#
#   scripts/gpu-check.sh [results_dir]      (default: $OUT if set, else out/gpu-check)
#
# Results: summary.txt (everything below, in order), tests.txt, bench_attention.json,
# bench_attention.txt, torch_sdpa.json / .txt (when torch with CUDA is present), nvidia-smi.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-${OUT:-out/gpu-check}}
mkdir -p "$results"
summary="$results/summary.txt"
: > "$summary"
say() { echo "$@" | tee -a "$summary"; }

say "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
nvidia-smi > "$results/nvidia-smi.txt" 2>&1 && head -15 "$results/nvidia-smi.txt" >> "$summary" || say "nvidia-smi: not available"

build=build/gpu-check
say "== build ($build, Release, DA3_CUDA=ON)"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDA3_CUDA=ON &&
       cmake --build "$build" -j "$(nproc)"; } > "$results/build.txt" 2>&1; then
  say "BUILD FAILED (see build.txt):"; tail -40 "$results/build.txt" | tee -a "$summary"; exit 1
fi
"$build/da3" info 2>&1 | tee -a "$summary"

say "== CUDA tests"
"$build/tests/da3_tests" --gtest_filter='AttentionCuda*:AttentionSelect*' > "$results/tests.txt" 2>&1
tests_rc=$?
grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) ' "$results/tests.txt" | tee -a "$summary"
say "tests exit code: $tests_rc"

say "== GPU attention benchmark (flash_attn bf16 / fp16 vs sdpa fp32)"
"$build/da3" bench attention --device cuda --backends flash_attn,sdpa --repeat 20 \
  --json "$results/bench_attention.json" 2>&1 | tee "$results/bench_attention.txt" | tee -a "$summary"

py=${PYTHON:-python3}
if "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  say "== torch CUDA SDPA on the same shapes"
  "$py" - "$results/torch_sdpa.json" <<'PY' 2>&1 | tee "$results/torch_sdpa.txt" | tee -a "$summary"
import json, sys, time, torch, torch.nn.functional as F
rows = []
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
for heads in (6, 12, 16, 24):
    for n in (256, 529, 1024, 1369, 1297, 5188):
        for dt, name in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
            q, k, v = (torch.randn(1, heads, n, 64, device="cuda", dtype=dt) for _ in range(3))
            for _ in range(3): F.scaled_dot_product_attention(q, k, v)
            torch.cuda.synchronize(); ts = []
            for _ in range(20):
                t0 = time.perf_counter(); F.scaled_dot_product_attention(q, k, v); torch.cuda.synchronize()
                ts.append((time.perf_counter() - t0) * 1e3)
            ts.sort(); med = ts[len(ts) // 2]
            gf = 4.0 * n * n * 64 * heads / (med * 1e-3) * 1e-9
            print(f"{heads:5d} {n:7d} torch_sdpa {name:5s} {med:9.3f} ms {gf:9.1f} GFLOP/s")
            rows.append(dict(heads=heads, head_dim=64, tokens=n, backend="torch_sdpa", dtype=name, device="cuda",
                             threads=0, median_ms=med, gflops=gf, max_rel_err=0.0, scratch_bytes=0))
json.dump(rows, open(sys.argv[1], "w"), indent=2)
PY
else
  say "== torch with CUDA not importable with $py: no torch comparison (set PYTHON=...)"
fi
say "== done; results in $results"
exit $tests_rc
