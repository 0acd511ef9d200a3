#!/usr/bin/env bash
# Runs each libFuzzer harness built in build/fuzz (`make fuzz`) for FUZZ_SECONDS (default 60):
# first over the inputs that crashed before (fuzz/crashes/<name>/, regression), then fuzzing from
# the committed seeds (fuzz/corpus/<name>/) plus what earlier runs found (build/fuzz/corpus/<name>/,
# not committed). A crash, leak, timeout or out-of-memory is saved under fuzz/crashes/<name>/ and
# makes the exit status non-zero; every fuzzer still runs.
#   scripts/run-fuzzers.sh [NAME...]        default: every build/fuzz/fuzz_* executable
# Environment: FUZZ_SECONDS (60), FUZZ_RSS_MB (1024: memory per input; the issue's bound),
#   FUZZ_TIMEOUT (10: seconds per input), FUZZ_BUILD (build/fuzz).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
rss=${FUZZ_RSS_MB:-1024}
per_input=${FUZZ_TIMEOUT:-10}
build=${FUZZ_BUILD:-build/fuzz}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$build"/fuzz_*; do [ -x "$f" ] && [ -f "$f" ] && names+=("$(basename "$f")"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "run-fuzzers: no fuzzers in $build (make fuzz builds them)" >&2; exit 1; }

# What went wrong in one line or three: the report, an escaped exception's message, and the first
# frame in da3's own code (src/, fuzz/).
summarize() {
  grep -E "==[0-9]+==( )?ERROR|runtime error|what\(\):|ERROR: libFuzzer" "$1" | grep -v "^INFO" | head -2 | sed 's/^ */      /'
  grep -E "^ +#[0-9]+ .* in da3::" "$1" | grep -v "da3::fuzz::" | head -1 |
    awk '{ for (i = 1; i <= NF; i++) if ($i == "in") { fn = $(i + 1); break }
           sub(/\(.*/, "", fn); loc = $NF; sub(/.*\/\.\.\/\.\.\//, "", loc); print "      at " fn " " loc }'
}

failed=()
summary=()
for name in "${names[@]}"; do
  exe=$build/$name
  crashes=fuzz/crashes/$name
  work=$build/corpus/$name
  log=$build/logs/$name.log
  mkdir -p "$crashes" "$work" "$build/logs"
  echo "--- $name: ${seconds}s (rss limit ${rss} MB, ${per_input}s per input)"
  status=ok
  # Regression: every input that crashed before must now pass.
  old=("$crashes"/*)
  if [ -e "${old[0]}" ]; then
    if ! "$exe" -rss_limit_mb="$rss" -timeout="$per_input" "${old[@]}" >"$log.regress" 2>&1; then
      echo "    a saved crash input still fails ($crashes/):"
      summarize "$log.regress"
      status="saved crash still fails"
    fi
  fi
  t0=$(date +%s)
  "$exe" -max_total_time="$seconds" -rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout="$per_input" \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work" "fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  t=$(( $(date +%s) - t0 ))
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  if [ $rc -ne 0 ]; then
    artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
    echo "    FAILED after ${t}s, $runs inputs: ${artifact:-no artifact}"
    summarize "$log"
    [ "$status" = ok ] && status="crash" || status="$status; crash"
  else
    echo "    ok: ${t}s, $runs inputs, corpus $(ls "$work" | wc -l) files"
  fi
  [ "$status" = ok ] || failed+=("$name")
  summary+=("$(printf '%-20s %s' "$name" "$status")")
done
echo "--- fuzz summary (logs in $build/logs/)"
printf '    %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzzers: ${#failed[@]} fuzzer(s) failed: ${failed[*]}" >&2
  exit 1
fi
