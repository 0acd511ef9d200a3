#!/usr/bin/env bash
# Groups crash inputs by what went wrong: replays each through its harness and prints one line
# per distinct (report, first da3 frame), with how many inputs hit it and the smallest of them.
#   fuzz/triage.sh HARNESS FILE...      e.g. fuzz/triage.sh fuzz_npz fuzz/crashes/fuzz_npz/*
set -uo pipefail
cd "$(dirname "$0")/.."
exe=${FUZZ_BUILD:-build/fuzz}/$1; shift
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
declare -A count smallest size
for f in "$@"; do
  out=$("$exe" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 "$f" 2>&1)
  kind=$(grep -oE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+( on unknown address)?|runtime error: [^0-9]*|what\(\): .{0,40}|out-of-memory|timeout" <<<"$out" | head -1)
  [ -n "$kind" ] || kind="(no failure on replay)"
  kind=$(sed -E 's/[0-9]+/N/g; s/ +$//' <<<"$kind")
  frame=$(grep -E "^ +#[0-9]+ .* in da3::" <<<"$out" | grep -v "da3::fuzz::" | head -1 |
    awk '{ for (i = 1; i <= NF; i++) if ($i == "in") { fn = $(i + 1); break }
           sub(/\(.*/, "", fn); loc = $NF; sub(/.*\/\.\.\/\.\.\//, "", loc); print fn " " loc }')
  key="$kind | ${frame:-?}"
  count[$key]=$(( ${count[$key]:-0} + 1 ))
  s=$(stat -c %s "$f")
  if [ -z "${size[$key]:-}" ] || [ "$s" -lt "${size[$key]}" ]; then size[$key]=$s; smallest[$key]=$f; fi
done
for k in "${!count[@]}"; do printf '%4d  %s  [e.g. %s, %s bytes]\n' "${count[$k]}" "$k" "${smallest[$k]}" "${size[$k]}"; done | sort -rn
