# Shared by the fault-corpus tests (tests/faults/*.sh): one script per class of fault, each case
# run as users run trident (real mpirun ranks) and checked for
#   - the exit code (2: bad input, 1: runtime failure),
#   - the message naming the field or file (a regex),
#   - no crash text (segfault, bare library exception, std::terminate, a stack trace),
#   - the wall time (under 10 s),
#   - every file under the protected folders (an earlier run's output and checkpoints) byte-identical.
# Usage inside a script: source common.sh TRIDENT_BINARY WORKDIR
set -uo pipefail
trident="$1"
work="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$work" && mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
unset TRIDENT_COMM_TIMEOUT_S
failures=0
max_seconds=10

# A tiny model on 2 ranks (pp2): every case is about the inputs, not the training.
tiny=(--set model.layers=2 --set model.hidden=32 --set model.heads=4 --set model.seq_len=16 --set steps=2
      --set layout.dp=1 --set layout.pp=2 --set layout.tp=1 --set layout.micro_batches=2
      --set layout.micro_batch_size=1 --set eval_interval=0 --set peak_flops=1e9)
launcher=(mpirun -q --oversubscribe --bind-to none)
mpi=(timeout 60 "${launcher[@]}")  # a case that hangs is killed after 60 s (exit 124)

# Folders whose files must not change in a failing case (set per script or per case).
protect=()

now_ms() { date +%s%3N; }

# The path and SHA-256 of every file under the protected folders.
snapshot() {
  [ "${#protect[@]}" -eq 0 ] && return 0
  find "${protect[@]}" -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum
}

fail() {
  echo "FAIL $1"
  failures=$((failures + 1))
}

# expect NAME CODE REGEX COMMAND...: runs COMMAND and checks it as described at the top.
expect() {
  local name="$1" want="$2" regex="$3"
  shift 3
  local before after out rc start took
  before="$(snapshot)"
  start=$(now_ms)
  out="$("$@" 2>&1)"
  rc=$?
  took=$(( $(now_ms) - start ))
  after="$(snapshot)"
  if [ "$rc" -eq 124 ]; then fail "$name: hung (killed after 60 s)"; return; fi
  if [ "$rc" -ne "$want" ]; then fail "$name: exit $rc, wanted $want"; echo "$out" | head -12; return; fi
  if ! grep -Eq -- "$regex" <<<"$out"; then fail "$name: no /$regex/ in:"; echo "$out" | head -12; return; fi
  if grep -Eq "Segmentation|core dumped|json\.exception|terminate called|Backtrace|stack trace" <<<"$out"
  then fail "$name: crash text in:"; echo "$out" | head -12; return; fi
  local lines
  lines=$(grep -c "trident: error" <<<"$out")
  if [ "$want" -ne 0 ] && [ "$lines" -ne 1 ]; then
    fail "$name: $lines error lines (wanted one) in:"; echo "$out" | head -12; return
  fi
  if [ "$took" -ge $((max_seconds * 1000)) ]; then fail "$name: took ${took} ms (limit ${max_seconds} s)"; return; fi
  if [ "$before" != "$after" ]; then
    fail "$name: files changed under ${protect[*]}:"; diff <(echo "$before") <(echo "$after") | head -8; return
  fi
  echo "ok   $name (exit $rc, ${took} ms): $(grep -Eo -- ".{0,30}$regex.{0,50}" <<<"$out" | head -1)"
}

# train NP ARGS...: `trident train` on NP ranks (the tiny model unless ARGS override it).
train() {
  local np="$1"
  shift
  "${mpi[@]}" -np "$np" "$trident" train "${tiny[@]}" "$@"
}

# A finished good run with a checkpoint per step: the output folder the failing cases must not touch.
make_good_run() {
  local out="$1"
  shift
  timeout 120 "${launcher[@]}" -np 2 "$trident" train "${tiny[@]}" --set checkpoint_interval=1 --set "out_dir=$out" "$@" \
    > "$work/good_run.log" 2>&1 || { echo "FAIL: the good run itself failed"; cat "$work/good_run.log"; exit 1; }
}

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures case(s) failed"
    exit 1
  fi
  echo "all cases passed"
}
