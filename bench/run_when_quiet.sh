#!/usr/bin/env bash
# Runs a benchmark command only once the machine is idle: these development machines are shared,
# and another job on the second core halves a 2-thread result. Waits (up to MAX_WAIT seconds,
# default 1800) until the CPUs were >= 95 % idle over a 3-second window, then runs "$@".
#
#   bench/run_when_quiet.sh build/release/da3 bench attention --tokens 1297 --heads 6,16
set -euo pipefail
max_wait=${MAX_WAIT:-1800}
idle_pct() {
  read -r _ u n s i w x y z _ < /proc/stat; local t1=$((u + n + s + i + w + x + y + z)) i1=$((i + w))
  sleep 3
  read -r _ u n s i w x y z _ < /proc/stat; local t2=$((u + n + s + i + w + x + y + z)) i2=$((i + w))
  echo $(( 100 * (i2 - i1) / (t2 - t1) ))
}
start=$(date +%s)
while :; do
  idle=$(idle_pct)
  if (( idle >= 95 )); then break; fi
  if (( $(date +%s) - start > max_wait )); then
    echo "run_when_quiet: machine still busy (${idle}% idle) after ${max_wait}s; running anyway" >&2
    break
  fi
done
echo "run_when_quiet: ${idle}% idle; running: $*" >&2
exec "$@"
