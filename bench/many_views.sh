#!/usr/bin/env bash
# Issue 20's many-view table: one forward of N views in one scene (joint attention, no windows),
# N = 1, 4, 8, ... up to 64 or until a forward takes longer than MAX_FORWARD_S (default 1200 s:
# the issue's 20 minutes), for each checkpoint given. One row per run: views, forward wall time,
# peak RSS, tensors peak (activations + weights copied) — `da3 bench model --views N --repeat 1`,
# each started at >= 95 % idle by run_when_quiet.sh.
#
#   bash bench/many_views.sh models/random-da3-small models/random-da3-base
set -uo pipefail
cd "$(dirname "$0")/.."
DA3=${DA3:-build/release/da3}
max_forward=${MAX_FORWARD_S:-1200}
echo "# $(date -u) $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) CPUs, ${DA3_NUM_THREADS:-all} threads"
for model in "$@"; do
  echo "# $model, 504x378, fp32"
  echo "views,forward_ms,peak_rss_mb,tensors_peak_mb"
  for n in 1 4 8 16 32 64; do
    json=$(MAX_WAIT=${MAX_WAIT:-300} bench/run_when_quiet.sh "$DA3" bench model -m "$model" --size 504x378 --views "$n" \
           --repeat 1 --json 2>/dev/null) || { echo "$n,failed"; break; }
    row=$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%d,%.0f,%.1f,%.1f" % (d["views"], d["median_ms"], d["peak_rss_bytes"]/1e6, d["peak_tensor_bytes"]/1e6))' <<<"$json")
    echo "$row"
    ms=${row#*,}; ms=${ms%%,*}
    (( ms / 1000 > max_forward / 4 )) && { echo "# next would exceed ${max_forward} s (global attention ~4x per doubling): stop"; break; }
  done
done
