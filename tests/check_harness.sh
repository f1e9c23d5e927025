# The PASS/FAIL harness shared by the install-based test scripts (tests/consumers/run.sh,
# tests/bindings/run.sh). Source it, then call `harness_init NAME`: it makes the temporary
# directory $tmp (removed at exit unless KEEP=1) with $prefix (the install prefix) and $log
# (the last step's output), and defines
#   pass NAME / fail NAME   count a check (fail also prints the tail of $log)
#   step NAME CMD...        runs CMD with its output in $log; PASS/FAIL on its exit status
#   summary                 "== NAME checks: N passed, N failed"; returns non-zero on failures
# shellcheck shell=bash

harness_init() {
  harness_name=$1
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/qwen-$harness_name.XXXXXX")
  if [[ ${KEEP:-0} == 1 ]]; then
    echo "$harness_name: keeping $tmp"
  else
    trap 'rm -rf "$tmp"' EXIT
  fi
  prefix=$tmp/prefix
  log=$tmp/log
  passed=0
  failed=0
  failures=()
}
pass() { echo "PASS  $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL  $1"
  [[ -s $log ]] && sed 's/^/      | /' "$log" | tail -n 40
  failed=$((failed + 1))
  failures+=("$1")
}
step() {
  local name=$1; shift
  if "$@" >"$log" 2>&1; then pass "$name"; return 0; else fail "$name"; return 1; fi
}
summary() {
  echo "== ${harness_name%s} checks: $passed passed, $failed failed"
  for f in "${failures[@]}"; do echo "   failed: $f"; done
  [[ $failed -eq 0 ]]
}
