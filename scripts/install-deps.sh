#!/usr/bin/env bash
# Installs every system dependency of da3.cpp from Debian packages.
# Idempotent: when everything is present it installs nothing and touches no network.
#   install-deps.sh [GROUP...]   extra groups: fuzz (clang, libFuzzer, LLVM OpenMP: `make fuzz`),
#                                fresh (debootstrap, git: scripts/check-fresh-install.sh),
#                                browser (chromium, chromium-driver: the da3 serve page test)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev            # oneDNN: CPU GEMM / convolution, the only bf16 GEMM available here
  ocl-icd-opencl-dev     # only Recommended by libdnnl-dev, but its dnnl-config.cmake requires OpenCL
  nlohmann-json3-dev     # config.json and safetensors headers
  # OpenCV: image/video codecs and the reference's resize code, built into the media plugin
  # libda3_media.so (da3 itself does not link OpenCV; it loads the plugin for images and video)
  libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
  libcli11-dev           # the da3 CLI
  libcurl4-openssl-dev   # headers for da3 pull (Hugging Face downloads); libcurl4 loaded at run time
  libcpp-httplib-dev     # da3 serve: the HTTP server (and its test client)
  libjs-three            # da3 serve: three.js for the web page's 3D viewer, served locally
  libgtest-dev           # test suite
  python3                # test suite: test_pull's local HTTP server (http.server); minbase has none
  python3-dev python3-venv  # the Python package da3cpp (docs/python.md): headers, and the build venv
)

for group in "$@"; do
  case $group in
    fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;;  # clang++ -fsanitize=fuzzer; -fopenmp
    fresh) packages+=(debootstrap git) ;;
    browser) packages+=(chromium chromium-driver) ;;  # tests/web/page_test.py (skips without them)
    *) echo "install-deps: unknown group '$group' (known: fuzz, fresh, browser)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
