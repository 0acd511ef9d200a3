#!/usr/bin/env bash
# The measurements behind docs/perf.md's "bf16 on the CPU" section, in one go (issue 19): the
# machine, its FMA peak, flash attention fp32 vs bf16, the Winograd bodies, and DA3-SMALL /
# DA3-BASE side by side with PyTorch fp32 and bf16 autocast (and DA3-SMALL fp32 against PyTorch fp32). Needs the reference venv
# (tools/reference/setup_env.sh) and an idle machine (each step waits for one: run_when_quiet).
#
#   bash bench/bf16_session.sh [OUT=bench-bf16.txt]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-bf16.txt}
PY=tools/reference/.venv/bin/python
DA3=build/release/da3
Q="bench/run_when_quiet.sh"
export MAX_WAIT=${MAX_WAIT:-120}
{
  date -u
  lscpu | grep -E "Model name|^Flags" | cut -c1-2000
  $Q build/release/bench/da3_fma_peak 2
  $Q $DA3 bench attention --tokens 1297 --heads 6,12,16 --backends flash_attn --dtype f32,bf16 --no-check --repeat 7
  for isa in avx2 avx512; do echo "DA3_WINOGRAD_ISA=$isa"; DA3_WINOGRAD_ISA=$isa $Q build/release/bench/da3_conv_winograd 2 7; done
  for p in fp32 bf16; do $Q $DA3 bench model -m models/random-da3-small --precision $p --repeat 5; done
  $Q $PY bench/compare_pytorch.py --preset da3-small --views 1 --rounds 3 --precision bf16
  $Q $PY bench/compare_pytorch.py --preset da3-small --views 1 --rounds 3 --precision fp32
  $Q $PY bench/compare_pytorch.py --preset da3-small --views 4 --rounds 2 --precision bf16
  $Q $PY bench/compare_pytorch.py --preset da3-base --views 1 --rounds 2 --precision bf16
  date -u
} 2>&1 | tee "$out"
