#!/usr/bin/env bash
# Builds tests/oracle/llama_oracle.cpp, a small driver around llama.cpp's prebuilt shared
# libraries, for the parity tests. Nothing of llama.cpp is committed or compiled:
#   1. the npm packages come from scripts/fetch-oracles.sh (run here if missing);
#   2. node-llama-cpp's git bundle (llama/gitRelease.bundle) is cloned bare into
#      $ORACLE_DIR/llama.git and llama.h + ggml/include/*.h of that exact release are read out
#      of it with `git show` into $ORACLE_DIR/llama-include/;
#   3. the driver is compiled against those headers and linked to the prebuilt libllama /
#      libggml / libggml-base of @node-llama-cpp/linux-x64. The executable is placed IN the
#      package's bins folder with rpath $ORIGIN because ggml loads its CPU variants
#      (libggml-cpu-<level>.so) from the executable's own directory.
# Usage: scripts/build-llama-oracle.sh [ORACLE_DIR]   (default: $QWEN_ORACLE_DIR or build/oracles)
# Prints the driver's path on stdout. Idempotent: rebuilds only when the source, the release
# or the compiler changed. Env: CXX (default g++), FORCE=1 to rebuild.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${QWEN_ORACLE_DIR:-$repo/build/oracles}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bundle=$dir/node_modules/node-llama-cpp/llama/gitRelease.bundle
bins=$dir/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [[ ! -f "$bundle" || ! -d "$bins" ]]; then
  "$repo/scripts/fetch-oracles.sh" "$dir" >/dev/null
fi
[[ -f "$bundle" ]] || { echo "build-llama-oracle: missing $bundle" >&2; exit 1; }
[[ -d "$bins" ]] || { echo "build-llama-oracle: missing $bins" >&2; exit 1; }

# (a) bare clone of the bundle
gitdir=$dir/llama.git
if [[ ! -d "$gitdir" ]] || ! git --git-dir="$gitdir" rev-parse -q --verify HEAD >/dev/null 2>&1; then
  rm -rf "$gitdir.tmp"
  git clone --quiet --bare "$bundle" "$gitdir.tmp" >&2
  rm -rf "$gitdir"
  mv "$gitdir.tmp" "$gitdir"
fi
commit=$(git --git-dir="$gitdir" rev-parse HEAD)

# (b) headers of that exact release
inc=$dir/llama-include
if [[ ! -f "$inc/.commit" || "$(cat "$inc/.commit")" != "$commit" ]]; then
  rm -rf "$inc"
  mkdir -p "$inc"
  git --git-dir="$gitdir" show HEAD:include/llama.h > "$inc/llama.h"
  while read -r p; do
    [[ "$p" == *.h ]] || continue
    git --git-dir="$gitdir" show "HEAD:$p" > "$inc/$(basename "$p")"
  done < <(git --git-dir="$gitdir" ls-tree --name-only HEAD ggml/include/)
  echo "$commit" > "$inc/.commit"
fi

# (c) libraries actually shipped: libllama.so or a versioned libllama.vX.Y.Z.so, same for ggml
pick() {  # pick PATTERN... -> first existing file name in $bins
  local f
  for f in "$@"; do
    if [[ -f "$bins/$f" ]]; then echo "$f"; return 0; fi
  done
  return 1
}
shopt -s nullglob
cd "$bins"
llama_lib=$(pick libllama.so libllama.v*.so) || { echo "build-llama-oracle: no libllama*.so in $bins" >&2; exit 1; }
ggml_lib=$(pick libggml.so libggml.v*.so) || { echo "build-llama-oracle: no libggml*.so in $bins" >&2; exit 1; }
ggml_base=$(pick libggml-base.so libggml-base.v*.so) || { echo "build-llama-oracle: no libggml-base*.so in $bins" >&2; exit 1; }
cpu_variants=(libggml-cpu-*.so)
[[ ${#cpu_variants[@]} -gt 0 ]] || { echo "build-llama-oracle: no libggml-cpu-*.so in $bins" >&2; exit 1; }
cd - >/dev/null

src=$repo/tests/oracle/llama_oracle.cpp
exe=$bins/llama_oracle
cxx=${CXX:-g++}
flags=(-std=c++17 -O2 -Wall -Wextra -Wno-deprecated-declarations)
key="$commit $(sha256sum "$src" | cut -d' ' -f1) $($cxx --version | head -1) ${flags[*]} $llama_lib $ggml_lib $ggml_base"
stamp=$exe.stamp
if [[ "${FORCE:-0}" != 1 && -x "$exe" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
  echo "$exe"; exit 0
fi

"$cxx" "${flags[@]}" -I"$inc" "$src" -o "$exe.tmp" \
  -L"$bins" "-l:$llama_lib" "-l:$ggml_lib" "-l:$ggml_base" \
  -Wl,-rpath,'$ORIGIN' -Wl,--enable-new-dtags -pthread >&2
mv "$exe.tmp" "$exe"
echo "$key" > "$stamp"
echo "$exe"
