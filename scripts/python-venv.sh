#!/usr/bin/env bash
# Creates (or updates) the venv that builds and tests the Python package: nanobind for the
# extension module (built in the same CMake tree as the CLI), numpy, pytest, pillow
# (python/requirements-test.txt, from PyPI). Run by `make build` / `make test` before CMake.
#   scripts/python-venv.sh [VENV]        default build/python-venv; python: $DA3_PYTHON or python3
# Idempotent: does nothing when the venv already holds this requirements file's packages. When
# the venv cannot be made (no python3-venv, no network) it says so and exits 0: the build then
# has no Python module and the Python tests report themselves as skipped, with this reason.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/python-venv}
req=python/requirements-test.txt
py=${DA3_PYTHON:-python3}
stamp=$venv/.da3-requirements
reqs=("$req")
# The opt-in Ray test (python/tests/test_ray.py) needs Ray (~300 MB): only with DA3_TEST_RAY=1.
[ "${DA3_TEST_RAY:-0}" = 1 ] && reqs+=(python/requirements-ray.txt)
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1) $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])' 2>/dev/null)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
if [ -f "$stamp" ] && [ "$(head -c 12 "$stamp")" = "unavailable:" ] && [ "$(sed -n 2p "$stamp")" = "$want" ]; then
  exit 0  # tried before with these requirements and failed; rm -rf the venv to retry
fi

fail() {
  echo "python-venv: $1; the Python module is not built and its tests skip (retry: rm -rf $venv)" >&2
  mkdir -p "$venv"
  printf 'unavailable: %s\n%s\n' "$1" "$want" >"$stamp"
  exit 0
}
echo "python-venv: creating $venv ($py) with $(cat "${reqs[@]}" | grep -v '^#' | tr '\n' ' ')" >&2
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv" >/dev/null || fail "'$py -m venv' failed (Debian: apt install python3-venv)"
for r in "${reqs[@]}"; do
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$r" || fail "pip install -r $r failed (network to PyPI?)"
done
echo "$want" >"$stamp"
# The stamp is newer than build.ninja: make re-runs CMake, which now finds nanobind.
