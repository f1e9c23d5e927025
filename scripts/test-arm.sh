#!/usr/bin/env bash
# The Arm kernels, cross-compiled and run under qemu-user (preset `arm`): only the kernels
# and their tests are built (QWEN_KERNELS_ONLY) with Debian's g++-aarch64-linux-gnu
# (cmake/aarch64-linux-gnu.cmake), and ctest runs test_kernels under qemu-aarch64 three
# times: the NEON + dot-product path and QWEN_ISA=scalar on the emulated `max` CPU, and the
# ARMv8.0 fallback (no dot product) on an emulated Cortex-A57.
# Needs g++-aarch64-linux-gnu and qemu-user (scripts/install-deps.sh installs them).
#
# Usage: scripts/test-arm.sh
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test-arm: $tool not found (scripts/install-deps.sh installs g++-aarch64-linux-gnu and qemu-user)" >&2
    exit 1
  fi
done
cmake --preset arm
cmake --build --preset arm
ctest --preset arm
