#!/usr/bin/env bash
# Download the wheels tools/gpu/*.py need on a machine that has torch + numpy and no package index
# (the GPU machine): run it where PyPI is reachable, then carry the folder.
#
#   tools/gpu/fetch_wheel.sh [DIR]        # default DIR: gpu-wheels (at the repo root); safe to rerun
#
#   depth-anything-3==0.1.1   the reference network (--no-deps: its declared dependencies are GUI/3D
#                             tooling the network code never imports)
#   einops, addict            imported and used by the network code
#   omegaconf, PyYAML         depth_anything_3.cfg builds the network from the preset yaml with them
#                             (omegaconf >= 2.4 needs no antlr4). PyYAML's wheel is the CPython 3.12
#                             manylinux one (the GPU venv's Python); on another Python its C
#                             extension is skipped and its pure-Python code used.
#
# All are put on sys.path by tools/gpu/da3_slim.py (unpacked to a temporary directory); nothing is
# installed. Versions are pinned so the GPU machine runs what was tested here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-$ROOT/gpu-wheels}"
mkdir -p "$DIR"
PIP=(python3 -m pip download --disable-pip-version-check --no-deps -d "$DIR")

"${PIP[@]}" "depth-anything-3==0.1.1" "einops==0.8.2" "addict==2.4.0" "omegaconf==2.4.0"
"${PIP[@]}" --only-binary=:all: --implementation cp --python-version 3.12 \
    --platform manylinux_2_17_x86_64 "pyyaml==6.0.4"

echo "wheels in $DIR:"
ls -l "$DIR"/*.whl | awk '{printf "  %8.1f KiB  %s\n", $5 / 1024, $NF}'
du -ch "$DIR"/*.whl | tail -1 | awk '{print "  total " $1}'
