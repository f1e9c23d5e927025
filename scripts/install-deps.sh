#!/usr/bin/env bash
# Installs everything libqwen needs to build and run all its tests on a fresh Debian 12
# machine (as root). Idempotent and fast when nothing is missing: apt is only used for the
# packages dpkg does not report as installed.
#
#   build        build-essential g++ cmake ninja-build pkg-config
#   libraries    libxsimd-dev doctest-dev libbenchmark-dev pybind11-dev python3-dev
#                libutf8proc-dev nlohmann-json3-dev (OpenMP: libgomp comes with g++),
#                libcurl4-openssl-dev libssl-dev (`qwen download` only)
#   tests        abigail-tools (scripts/abi-check.sh), binutils + file (tests/consumers),
#                python3-pytest python3-numpy python3-jinja2 python3-jsonschema tmux (tests/python),
#                python3-venv python3-pip python3-setuptools python3-wheel (pip install of
#                bindings/python into a virtual environment, tests/bindings),
#                git + ca-certificates (scripts/build-llama-oracle.sh, npm over https),
#                cargo rustc golang-go valgrind (tests/bindings: Rust, Go, leak checks),
#                clang libclang-rt-14-dev libomp-dev (presets fuzz and tsan: libFuzzer, the
#                sanitizer runtimes, LLVM's OpenMP with its TSan tool Archer),
#                g++-aarch64-linux-gnu qemu-user (scripts/test-arm.sh: the Arm kernels,
#                cross-compiled and run under emulation)
#   oracles      node + npm (scripts/fetch-oracles.sh): installed from Debian only when `node`
#                is missing, so a newer Node.js already on the machine is left alone.
# Usage: scripts/install-deps.sh     (sudo is used when not run as root)
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libxsimd-dev doctest-dev libbenchmark-dev pybind11-dev python3-dev python3
  libutf8proc-dev nlohmann-json3-dev
  abigail-tools binutils file git ca-certificates
  python3-pytest python3-numpy python3-jinja2 python3-jsonschema tmux
  python3-venv python3-pip python3-setuptools python3-wheel
  libcurl4-openssl-dev libssl-dev
  cargo rustc golang-go valgrind
  clang libclang-rt-14-dev libomp-dev
  g++-aarch64-linux-gnu qemu-user
)
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

# One dpkg-query for all (unknown packages are simply absent from its output).
installed=" $(dpkg-query -W -f='${Package}:${Status}\n' "${packages[@]}" 2>/dev/null |
  sed -n 's/:install ok installed$//p' | tr '\n' ' ' || true) "
missing=()
for p in "${packages[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
echo "install-deps: done"
