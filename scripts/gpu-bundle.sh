#!/usr/bin/env bash
# Builds da3 with CUDA here and packs what a bare GPU machine needs to run the GPU checks into one
# relocatable archive: the binaries, the shared libraries they use that a stock CUDA machine lacks
# (found with ldd: oneDNN, libgomp, a libstdc++ new enough for g++ 12), scripts/gpu-check.sh and
# the Python helpers it runs. CUDA vendor libraries (cuBLAS, cuBLASLt, cuDNN) are NOT packed: they
# are loaded at run time from the GPU machine's toolkit or torch's nvidia-* wheels
# (src/core/cuda_library.hpp). The CUDA runtime is linked statically; the driver is the machine's.
#
#   scripts/gpu-bundle.sh [out.tar.xz]       (default: dist/da3-gpu-bundle.tar.xz)
#
# On the GPU machine:  tar xf da3-gpu-bundle.tar.xz && da3-gpu/gpu-check.sh RESULTS_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/da3-gpu-bundle.tar.xz}
build=${BUILD_DIR:-build/release}
limit=$((64 * 1024 * 1024))

bash scripts/install-deps.sh
[ -f "$build/build.ninja" ] || cmake --preset release >/dev/null
if ! grep -q '^DA3_WITH_CUDA:INTERNAL=ON' "$build/CMakeCache.txt" 2>/dev/null &&
   ! grep -q 'DA3_WITH_CUDA=1' "$build/build.ninja"; then
  echo "gpu-bundle: $build was configured without CUDA (is nvcc on PATH? cmake -DDA3_CUDA=ON)" >&2
  exit 1
fi
cmake --build "$build" -j "$(nproc)" --target da3_cli da3_gpu_tests >/dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/da3-gpu"
mkdir -p "$root/bin" "$root/lib" "$root/bench" "$root/tools"
cp "$build/da3" "$build/tests/da3_gpu_tests" "$root/bin/"
strip --strip-debug "$root/bin/"*

# Every shared library ldd resolves, except the C library family and the GPU driver, which every
# Linux GPU machine has and which must match its kernel and driver.
system_lib() {
  case "$(basename "$1")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libcuda.so.*|linux-vdso*) return 0 ;;
  esac
  return 1
}
for bin in "$root/bin/"*; do
  ldd "$bin" | awk '/=> \// { print $3 }' | while read -r lib; do
    system_lib "$lib" || cp -Lu "$lib" "$root/lib/"
  done
  if ldd "$bin" | grep -q 'not found'; then
    echo "gpu-bundle: $bin has unresolved libraries:" >&2; ldd "$bin" | grep 'not found' >&2; exit 1
  fi
done
strip --strip-unneeded "$root/lib/"* 2>/dev/null || true
# The C++ runtime apart: Debian 12's libstdc++ needs glibc 2.36, which an older GPU machine lacks,
# while its own libstdc++ may be too old for g++ 12. gpu-check.sh tries ours first, then the
# machine's.
mkdir -p "$root/lib/cxx"
mv "$root/lib/"libstdc++.so.* "$root/lib/"libgcc_s.so.* "$root/lib/cxx/" 2>/dev/null || true

# The newest glibc symbol version the binaries need: the GPU machine's glibc must be at least that.
need=$(for f in "$root/bin/"* "$root/lib/"*.so*; do objdump -T "$f" 2>/dev/null; done |
       grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "$need" > "$root/GLIBC_REQUIRED"

cp scripts/gpu-check.sh "$root/"
cp bench/attention_vs_torch.py "$root/bench/"
cp bench/torch_sdpa_backends.py "$root/bench/"
[ -d tools/gpu ] && cp -r tools/gpu "$root/tools/"
git rev-parse HEAD > "$root/COMMIT" 2>/dev/null || true
git status --porcelain | grep -q . && echo "(with uncommitted changes)" >> "$root/COMMIT" || true

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - da3-gpu | xz -T0 -6 > "$out.tmp" && mv "$out.tmp" "$out"
size=$(stat -c %s "$out")
echo "gpu-bundle: $out, $((size / 1024)) KiB ($(du -sh "$root" | cut -f1) unpacked), needs $need; contents:"
(cd "$root" && find . -type f | sort | sed 's/^/  /')
if [ "$size" -gt "$limit" ]; then echo "gpu-bundle: over 64 MiB" >&2; exit 1; fi
