# Sourced by the CLI test scripts (after they set `trident`): expect_usage NAME REGEX ARGS... runs
# `trident ARGS` and counts a failure in `failures` unless it exits 2 (bad input) within 60 s with a
# message matching REGEX.
failures=0
expect_usage() {
  local name="$1" regex="$2"; shift 2
  local out rc
  out=$(timeout 60 "$trident" "$@" 2>&1); rc=$?
  if [ "$rc" -ne 2 ] || ! grep -Eq "$regex" <<<"$out"; then
    echo "FAIL $name: exit $rc, want 2 and /$regex/ in:"; echo "$out" | head -5; failures=$((failures + 1)); return
  fi
  echo "ok   $name: $(grep -Eo "$regex.{0,50}" <<<"$out" | head -1)"
}
