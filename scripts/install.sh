#!/usr/bin/env bash
# `make install`: puts the built da3 on PATH. Installs BUILD_DIR into PREFIX (default
# /usr/local): PREFIX/bin/da3, PREFIX/lib/da3/libda3_media.so (the media plugin, found from
# bin/ at run time), and the C++ library, headers and CMake package. A PREFIX this user cannot
# write is installed through sudo, as `make deps` installs packages.
#   install.sh BUILD_DIR [PREFIX]
set -euo pipefail
build=$1
prefix=${2:-/usr/local}
test -f "$build/da3" || { echo "install: $build/da3 is not built; run make build first" >&2; exit 1; }
# The nearest existing folder of PREFIX decides whether this user can write there.
dir=$prefix
while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
run=()
if [ ! -w "$dir" ] || { [ -d "$prefix/bin" ] && [ ! -w "$prefix/bin" ]; }; then
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
    run=(sudo)
  else
    echo "install: cannot write to $prefix; run as root, or choose another prefix: make install PREFIX=\$HOME/.local" >&2
    exit 1
  fi
fi
"${run[@]}" cmake --install "$build" --prefix "$prefix" >/dev/null
echo "installed $prefix/bin/da3 ($("$prefix/bin/da3" --version))"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
