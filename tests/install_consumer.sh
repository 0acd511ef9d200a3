#!/usr/bin/env bash
# Installs this build into a temporary prefix, builds examples/consumer against it with
# find_package(da3), and runs it on a fixture model: proves the installed headers, library and
# CMake package are complete on their own.
#   install_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/da3/model.hpp"
test -f "$tmp/prefix/lib/cmake/da3/da3Config.cmake" || test -f "$tmp/prefix/lib64/cmake/da3/da3Config.cmake"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$src/examples/consumer" -B "$tmp/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" >/dev/null
out=$("$tmp/build/da3_consumer" "$src/tests/fixtures/tiny-mono" 56 42)
echo "$out"
grep -q "^depth f32\[1, 1, 42, 56\] " <<<"$out"
