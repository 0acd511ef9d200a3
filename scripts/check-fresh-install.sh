#!/usr/bin/env bash
# Proves the README's two commands work on a fresh Debian 12: a minimal bookworm made with
# `debootstrap --variant=minbase` (cached outside the clone as a pristine tarball, unpacked
# fresh on every run), this checkout's HEAD cloned into it, `make` installed, /proc, /dev and
# /dev/shm mounted, then `make demo` and `make test` run in a chroot. The CUDA toolkit is not in
# the chroot: the build must configure itself CPU-only (DA3_CUDA=AUTO) and say so.
#
#   scripts/check-fresh-install.sh            # needs root (or sudo) and network (Debian mirror)
#
# Environment:
#   DA3_FRESH_CACHE   where the pristine tarball lives (default ${XDG_CACHE_HOME:-~/.cache}/da3-fresh-debian)
#   DA3_FRESH_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   DA3_FRESH_KEEP=1  keep the unpacked system (its path is printed) instead of deleting it
#   DA3_FRESH_WORKDIR parent of the per-run system (default /var/tmp)
#   DA3_FRESH_CCACHE=1 compile through ccache with a cache kept next to the tarball (CI uses it to
#                     fit its time budget: packages and build steps are as fresh as without it,
#                     only the compiler's output is reused; docs/ci.md)
#
# Tests HEAD as committed: uncommitted changes are not in the clone (it says so).
# Not called by `make test` (it runs `make test` inside the chroot); .ci/run calls it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${DA3_FRESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/da3-fresh-debian}
mirror=${DA3_FRESH_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/bookworm-minbase.tar
workparent=${DA3_FRESH_WORKDIR:-/var/tmp}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "check-fresh-install: needs root (or sudo) for debootstrap, mount and chroot" >&2; exit 1
  fi
fi

t_start=$(date +%s)
stamp() { echo "[fresh-install $(( $(date +%s) - t_start ))s] $*"; }

# --- host tools --------------------------------------------------------------------------------
need=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v git >/dev/null 2>&1 || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  stamp "installing on the host: ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

head=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  stamp "note: the checkout has uncommitted changes; testing HEAD ${head:0:12} as committed"
fi

# --- the pristine minbase system (cached) -------------------------------------------------------
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  stamp "no cached system at $tarball: debootstrap --variant=minbase bookworm (once)"
  boot=$(mktemp -d "$workparent/da3-debootstrap.XXXXXX")
  $SUDO env PATH="/usr/sbin:/sbin:$PATH" debootstrap --variant=minbase bookworm "$boot" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -n 30 "$cache/debootstrap.log" >&2; $SUDO rm -rf --one-file-system "$boot"; exit 1; }
  $SUDO tar --numeric-owner -C "$boot" -cpf "$tarball.tmp" .
  $SUDO mv "$tarball.tmp" "$tarball"
  $SUDO rm -rf --one-file-system "$boot"
  stamp "cached $(du -h "$tarball" | cut -f1) at $tarball"
fi

# --- a fresh copy for this run, always cleaned up -----------------------------------------------
root=$(mktemp -d "$workparent/da3-fresh.XXXXXX")
chmod 755 "$root"  # it becomes /: mktemp's 0700 would lock out apt's _apt user and any non-root user
mounted=()
cleanup() {
  local rc=$?
  set +e
  # Unmount in reverse order; a busy mount is detached lazily so nothing of the host stays
  # reachable under $root before it is deleted.
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    $SUDO umount "${mounted[i]}" 2>/dev/null || $SUDO umount -l "${mounted[i]}"
  done
  if grep -q " $root/" /proc/mounts; then
    echo "check-fresh-install: something is still mounted under $root; not deleting it" >&2
    grep " $root/" /proc/mounts >&2
  elif [ "${DA3_FRESH_KEEP:-0}" = 1 ]; then
    echo "check-fresh-install: kept $root" >&2
  else
    $SUDO rm -rf --one-file-system "$root"
  fi
  if [ $rc -eq 0 ]; then stamp "PASS"; else stamp "FAIL (exit $rc)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stamp "unpacking the cached system into $root"
$SUDO tar --numeric-owner -C "$root" -xpf "$tarball"
$SUDO cp /etc/resolv.conf "$root/etc/resolv.conf"

stamp "cloning HEAD ${head:0:12} into $root/root/da3.cpp"
$SUDO git clone -q --no-checkout "$repo" "$root/root/da3.cpp"
$SUDO git -C "$root/root/da3.cpp" fetch -q "$repo" "$head"
$SUDO git -C "$root/root/da3.cpp" -c advice.detachedHead=false checkout -q "$head"

mnt() {  # mnt TARGET MOUNT-ARGS...
  local target=$1; shift
  $SUDO mkdir -p "$target"
  $SUDO mount "$@" "$target"
  mounted+=("$target")
}
mnt "$root/proc" -t proc proc
mnt "$root/dev" --bind /dev
# Private: with shared propagation (systemd's default) the /dev/pts and /dev/shm mounts below
# would otherwise appear on the host's /dev as well.
$SUDO mount --make-rprivate "$root/dev"
mnt "$root/dev/pts" --bind /dev/pts
mnt "$root/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev shm
ccache_env=()
if [ "${DA3_FRESH_CCACHE:-0}" = 1 ]; then
  mkdir -p "$cache/ccache"
  mnt "$root/var/cache/da3-ccache" --bind "$cache/ccache"
  ccache_env=(CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache CCACHE_DIR=/var/cache/da3-ccache
              CCACHE_BASEDIR=/root/da3.cpp CCACHE_NOHASHDIR=1 CCACHE_COMPILERCHECK=content)
fi

# The chroot shares this host's network, and with it whatever TLS interception the network does:
# pip (make test's Python venv) trusts what the host's pip trusts. The host's bundle is copied in
# beside the fresh system's own (which apt-installed ca-certificates may replace) and named by
# PIP_CERT; the fresh system itself is not changed.
net_env=()
host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$host_ca" ]; then
  $SUDO mkdir -p "$root/usr/local/share/da3-host-ca"
  $SUDO cp "$host_ca" "$root/usr/local/share/da3-host-ca/ca.crt"
  net_env=(PIP_CERT=/usr/local/share/da3-host-ca/ca.crt)
fi

in_chroot() {
  $SUDO env -i HOME=/root TERM="${TERM:-dumb}" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive ${ccache_env[@]+"${ccache_env[@]}"} ${net_env[@]+"${net_env[@]}"} \
    chroot "$root" /bin/bash -c "$1"
}

t0=$(date +%s)
stamp "apt-get install make"
in_chroot 'apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null'
if [ ${#ccache_env[@]} -gt 0 ]; then
  in_chroot 'apt-get install -y -qq --no-install-recommends ccache >/dev/null'
  stamp "ccache: $cache/ccache (DA3_FRESH_CCACHE=1)"
fi
t_make=$(( $(date +%s) - t0 ))

if in_chroot 'command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]'; then
  echo "check-fresh-install: nvcc is in the fresh system: the CPU-only fallback is not what runs" >&2; exit 1
fi

t0=$(date +%s)
stamp "make demo (in the chroot)"
in_chroot 'cd /root/da3.cpp && make demo' 2>&1 | sed -u 's/^/  demo| /'
t_demo=$(( $(date +%s) - t0 ))

# DA3_CUDA=AUTO without nvcc: the build must have configured itself CPU-only.
in_chroot 'grep -q "^DA3_CUDA:STRING=AUTO$" /root/da3.cpp/build/release/CMakeCache.txt' || {
  echo "check-fresh-install: the release build is not configured with DA3_CUDA=AUTO" >&2; exit 1; }
in_chroot 'grep -q "^CMAKE_CUDA_COMPILER:" /root/da3.cpp/build/release/CMakeCache.txt && ! grep -q "^CMAKE_CUDA_COMPILER:.*NOTFOUND" /root/da3.cpp/build/release/CMakeCache.txt' && {
  echo "check-fresh-install: the fresh system found a CUDA compiler" >&2; exit 1; }
in_chroot '/root/da3.cpp/build/release/da3 info' | grep -i cuda | sed 's/^/  info| /' || true
stamp "CPU-only fallback confirmed (DA3_CUDA=AUTO, no CUDA compiler)"

t0=$(date +%s)
stamp "make test (in the chroot)"
in_chroot 'cd /root/da3.cpp && make test' 2>&1 | sed -u 's/^/  test| /'
t_test=$(( $(date +%s) - t0 ))

stamp "times: apt-get install make ${t_make}s, make demo (deps + build + demo) ${t_demo}s, make test ${t_test}s"
