#!/usr/bin/env bash
# Consumer tests on an INSTALLED copy of libqwen.
#
# Usage: tests/consumers/run.sh BUILD_DIR
#
# Installs BUILD_DIR into a temporary prefix (cmake --install --prefix), then proves the three
# ways a user links the library, each built and RUN against that copy only:
#   pkg-config   tests/consumers/c/consumer.c (C99, -Wall -Wextra -Werror -pedantic) with
#                `pkg-config --cflags --libs qwen`
#   cmake        tests/consumers/cmake: find_package(qwen CONFIG REQUIRED) + qwen::qwen
#   static       qwen::qwen_static (CMake) and `pkg-config --static` with libqwen.a; neither
#                executable may need libqwen.so
# and checks the shared object itself: SONAME libqwen.so.<QWEN_ABI_VERSION>, and nothing but
# qwen_* in its dynamic symbol table.
# QWEN_TEST_MODEL=<file.gguf> makes every consumer also load that model and evaluate a few
# tokens. Env: CC (default cc), KEEP=1 keeps the temporary directory.
# Prints one line per check and a summary; exits non-zero if any check failed.
set -uo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" 2>/dev/null && pwd) || { echo "consumers: no build directory '$1'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
abi=$(sed -n 's/^#define QWEN_ABI_VERSION \{1,\}\([0-9]\{1,\}\).*/\1/p' "$repo/include/qwen/qwen.h")

# shellcheck source=../check_harness.sh
source "$here/../check_harness.sh"
harness_init consumers
# show FILE: prints the output of a consumer run, indented.
show() { sed 's/^/      > /' "$1"; }

echo "== libqwen consumer tests: $build -> $prefix"

# ---- install -----------------------------------------------------------------------------
if ! step "install (cmake --install $1 --prefix <tmp>)" cmake --install "$build" --prefix "$prefix"; then
  echo "consumers: 0 passed, 1 failed"
  exit 1
fi
solib=$(find "$prefix" -name "libqwen.so.$abi" -print -quit)
libdir=$(dirname "${solib:-$prefix/lib/none}")
pcdir=$libdir/pkgconfig

check_layout() {
  local f missing=0
  for f in "$prefix/include/qwen/qwen.h" "$libdir/libqwen.so" "$libdir/libqwen.so.$abi" "$libdir/libqwen.a" \
           "$libdir/cmake/qwen/qwenConfig.cmake" "$libdir/cmake/qwen/qwenConfigVersion.cmake" \
           "$libdir/cmake/qwen/qwenTargets.cmake" "$pcdir/qwen.pc"; do
    if [[ -e $f ]]; then echo "ok      ${f#"$prefix"/}"; else echo "MISSING ${f#"$prefix"/}"; missing=1; fi
  done
  return $missing
}
step "installed layout (header, libqwen.so.$abi, libqwen.a, cmake package, qwen.pc)" check_layout

# ---- the shared object -------------------------------------------------------------------
check_soname() {
  local so
  so=$(readelf -d "$libdir/libqwen.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
  echo "SONAME: $so"
  [[ $so == "libqwen.so.$abi" ]]
}
step "SONAME is libqwen.so.$abi" check_soname && cat "$log"

# Only qwen_* may be exported. A version-script library has no other defined dynamic symbol;
# the version node itself (an ABS symbol some linkers add) is tolerated.
check_exports() {
  local others
  nm -D --defined-only "$libdir/libqwen.so" > "$tmp/exports.txt" || return 1
  others=$(grep -v ' qwen_' "$tmp/exports.txt" | grep -Ev ' A (VERS_|LIBQWEN_)' || true)
  echo "$(grep -c ' qwen_' "$tmp/exports.txt") qwen_* symbols exported"
  if [[ -n $others ]]; then echo "unexpected exports:"; echo "$others"; return 1; fi
}
step "only qwen_* exported (nm -D --defined-only)" check_exports && cat "$log"

# ---- (a) pkg-config, shared --------------------------------------------------------------
export PKG_CONFIG_PATH=$pcdir
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic)

build_pc_shared() {
  echo "pkg-config --cflags --libs qwen: $(pkg-config --cflags --libs qwen)"
  # shellcheck disable=SC2046
  "$cc" "${cflags[@]}" "$here/c/consumer.c" -o "$tmp/consumer_pc" $(pkg-config --cflags --libs qwen) \
    -Wl,-rpath,"$libdir"
}
run_uses_installed() {  # run_uses_installed EXE: it must load libqwen.so from the prefix
  local exe=$1 where
  where=$(ldd "$exe" | awk '/libqwen\.so/ {print $3}')
  echo "ldd: libqwen -> ${where:-<none>}"
  [[ $where == "$libdir/libqwen.so.$abi" ]] || { echo "not the installed copy"; return 1; }
  "$exe"
}
if step "pkg-config: build consumer.c (C99 -Wall -Wextra -Werror -pedantic)" build_pc_shared; then
  cat "$log"
  step "pkg-config: run (shared, from the prefix)" run_uses_installed "$tmp/consumer_pc" && show "$log"
fi

# ---- (b) CMake find_package, shared + static ---------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
build_cmake() {
  cmake -S "$here/cmake" -B "$tmp/cmake-build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DQWEN_CONSUMER_STATIC=ON -DCMAKE_C_COMPILER="$cc" &&
  cmake --build "$tmp/cmake-build" --verbose
}
if step "cmake: find_package(qwen) project builds (qwen::qwen and qwen::qwen_static)" build_cmake; then
  grep -E "Found qwen|consumer_(shared|static)( |$)" "$log" | grep -E "Found qwen|-o consumer" | sed 's/^/      | /'
  step "cmake: run consumer_shared (qwen::qwen)" run_uses_installed "$tmp/cmake-build/consumer_shared" && show "$log"
fi

# ---- (c) static ----------------------------------------------------------------------------
no_libqwen_needed() {  # no_libqwen_needed EXE: runs it; it must not need libqwen.so
  local exe=$1
  readelf -d "$exe" | grep NEEDED
  if readelf -d "$exe" | grep -q 'NEEDED.*libqwen'; then echo "needs libqwen.so"; return 1; fi
  "$exe"
}
if [[ -x $tmp/cmake-build/consumer_static ]]; then
  step "static: qwen::qwen_static consumer needs no libqwen.so, runs" no_libqwen_needed "$tmp/cmake-build/consumer_static" &&
    show "$log"
fi

build_pc_static() {
  local libs
  libs=$(pkg-config --static --libs qwen) || return 1
  echo "pkg-config --static --libs qwen: $libs"
  # -lqwen would pick libqwen.so from the same folder; name the archive instead.
  libs=${libs//-lqwen/-l:libqwen.a}
  # shellcheck disable=SC2086
  "$cc" "${cflags[@]}" "$here/c/consumer.c" -o "$tmp/consumer_pc_static" $(pkg-config --static --cflags qwen) $libs
}
if step "static: pkg-config --static build" build_pc_static; then
  cat "$log"
  step "static: pkg-config --static consumer needs no libqwen.so, runs" no_libqwen_needed "$tmp/consumer_pc_static" &&
    show "$log"
fi

# ---- summary -------------------------------------------------------------------------------
summary
