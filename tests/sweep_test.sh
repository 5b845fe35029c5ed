#!/usr/bin/env bash
# `trident sweep` on real MPI ranks, as users run it (tiny model, a few steps per point):
#   1. a 3-point sweep, one point with a config that does not resolve: the others complete, the CSV
#      has every column with plausible values, the bad point is recorded failed with its reason
#   2. re-running it skips the complete points (their runs are not touched) and retries the failed one
#   3. a run that fails at start-up (missing data file) and one past its timeout are recorded, the
#      sweep goes on, and no rank is left running
#   4. interrupted sweeps (SIGINT, then SIGKILL, between points) leave whole results files and resume
#   5. the slurm launcher through a stand-in sbatch: batch scripts with nodes/tasks from gpus_per_node
#   6. malformed specs exit 2 naming the field
# Usage: sweep_test.sh TRIDENT_BINARY WORKDIR
set -uo pipefail
trident="$1"
work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$work" && mkdir -p "$work"
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
python=$(command -v python3) || fail "python3 is needed to check the CSV"

base='"model": {"layers": 2, "hidden": 32, "heads": 2, "seq_len": 16},
      "layout": {"dp": 1, "pp": 2, "tp": 1, "micro_batches": 2, "micro_batch_size": 1},
      "optimizer": {"warmup_steps": 1}, "steps": 4, "eval_interval": 2, "eval_batches": 1, "peak_flops": 1e11'

# ---- 1. three points, one that does not resolve (3 heads-of-2 over tp 3) ------------------------
cat > three.json <<JSON
{"description": "tp 1, 2 and an impossible 3",
 "base": {$base}, "grid": {"layout.tp": [1, 2, 3]}, "timeout_s": 120, "sim_cluster": "h100"}
JSON
"$trident" sweep three.json --out three > three.log 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat three.log; fail "a sweep with a failed point should exit 1, got $rc"; }
grep -q "2 of 3 points ok" three.log || { cat three.log; fail "no '2 of 3 points ok' line"; }
grep -Eq "^\[1/3\] ok .*tok/s.*ETA" three.log || { cat three.log; fail "no progress line with an ETA"; }
"$python" - three/results.csv <<'PY' || fail "results.csv of the 3-point sweep"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 3, rows
ok = [r for r in rows if r["status"] == "ok"]
bad = [r for r in rows if r["status"] == "failed"]
assert len(ok) == 2 and len(bad) == 1, [r["status"] for r in rows]
assert "model.heads 2 is not divisible by layout.tp 3" in bad[0]["error"], bad[0]["error"]
for r in ok:
    f = lambda k: float(r[k])
    tp, pp, dp = int(r["layout.tp"]), int(r["layout.pp"]), int(r["layout.dp"])
    assert int(r["world_size"]) == dp * pp * tp
    assert r["layout.schedule"] == "1f1b" and int(r["steps"]) == 4 and int(r["steps_run"]) == 4
    assert 0 <= int(r["warmup_steps"]) < 4
    assert 0 < f("step_time_p10_s") <= f("step_time_median_s") <= f("step_time_p90_s") < 10, r
    assert 0 < f("step_time_mean_s") < 10
    assert f("tokens_per_s") > 0 and f("tflops_per_rank") > 0 and 0 < f("mfu") <= 1.0, r
    assert 0 <= f("bubble_frac") < 1 and 0 <= f("analyzer_bubble_frac") < 1, r
    assert f("comm_pp_s") > 0 and f("comm_dp_s") >= 0 and f("comm_embedding_s") >= 0, r
    assert (f("comm_tp_s") > 0) == (tp > 1), r
    stages = [float(x) for x in r["peak_mem_per_stage_bytes"].split(";")]
    assert len(stages) == pp and all(s > 0 for s in stages), r
    assert 0 < f("peak_mem_min_bytes") <= f("peak_mem_max_bytes") == max(stages), r
    assert 2.0 < f("final_loss") < 8.0 and 2.0 < f("final_val_loss") < 8.0, r
    assert float(r["wall_s"]) > 0 and r["error"] == "" and r["exit_code"] == "0"
    # trident simulate's prediction of the same config on the shipped H100 cluster
    assert 0 < f("sim_step_time_s") < 1 and f("sim_tokens_per_s") > 0, r
    assert r["sim_cluster"] == "h100" and 0 <= f("sim_bubble_frac") < 1 and 0 < f("sim_mfu") <= 1, r
    assert f("sim_peak_mem_max_bytes") > 0, r
    # the simulator's memory model per stage, beside the measured peaks (same plan: close)
    sim_stages = [float(x) for x in r["sim_peak_mem_per_stage_bytes"].split(";")]
    assert len(sim_stages) == pp and max(sim_stages) == f("sim_peak_mem_max_bytes"), r
    assert all(0.5 < s / m < 2.0 for s, m in zip(sim_stages, stages)), (sim_stages, stages)
# The same rows as JSON lines, typed.
import json, os
lines = [json.loads(l) for l in open(os.path.join(os.path.dirname(sys.argv[1]), "results.jsonl"))]
assert len(lines) == 3 and {l["hash"] for l in lines} == {r["hash"] for r in rows}
assert all(isinstance(l["peak_mem_per_stage_bytes"], list) for l in lines if l["status"] == "ok")
PY
for d in three/tp-1-* three/tp-2-*; do
  for f in config.json summary.json trace.json metrics.jsonl train.log; do
    [ -s "$d/$f" ] || fail "$d/$f missing"
  done
done
echo "ok   3-point sweep: 2 ok, the impossible point failed with its reason"

# ---- 2. resume: complete points are skipped, the failed one retried -----------------------------
before=$(stat -c %Y three/tp-1-*/train.log three/tp-2-*/train.log)
"$trident" sweep three.json --out three > three_again.log 2>&1
grep -q "2 already complete, 1 to run" three_again.log || { cat three_again.log; fail "resume did not skip the 2 complete points"; }
[ "$(stat -c %Y three/tp-1-*/train.log three/tp-2-*/train.log)" = "$before" ] || fail "resume re-ran a complete point"
[ "$(wc -l < three/results.jsonl)" -eq 4 ] || fail "results.jsonl should have 4 records (3 + the retried point)"
[ "$(wc -l < three/results.csv)" -eq 4 ] || fail "results.csv should have a header and 3 rows"
"$trident" sweep three.json --out three --dry-run > dry.log 2>&1 || fail "--dry-run failed"
[ "$(grep -c " complete " dry.log)" -eq 2 ] && grep -q "invalid .*model.heads" dry.log || { cat dry.log; fail "--dry-run listing"; }
"$trident" sweep three.json --out not_made --dry-run > /dev/null 2>&1
[ ! -e not_made ] || fail "--dry-run created the output folder"
echo "ok   re-run resumes: complete points untouched, the failed point retried; --dry-run lists them"

# ---- 3. a start-up failure and a timeout are recorded; nothing is left running -------------------
cat > failing.json <<JSON
{"base": {$base}, "grid": {"data.train": ["$work/no_such_file.bin", ""], "steps": [4, 1000000]},
 "zip": [["data.train", "steps"]], "timeout_s": 5}
JSON
"$trident" sweep failing.json --out failing > failing.log 2>&1
"$python" - failing/results.csv <<'PY' || { cat failing.log; fail "failed and timed-out points"; }
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["status"] for r in rows] == ["failed", "timeout"], [(r["status"], r["error"]) for r in rows]
assert "no_such_file.bin" in rows[0]["error"], rows[0]["error"]
assert "timed out after 5 s" in rows[1]["error"] and rows[1]["exit_code"] == "124", rows[1]
assert 5 <= float(rows[1]["wall_s"]) < 30, rows[1]["wall_s"]
PY
sleep 1
# No process left whose command line names the sweep's folder (the [g] keeps grep from finding itself).
left=$(grep -la -- "$work/failin[g]/" /proc/[0-9]*/cmdline 2>/dev/null || true)
[ -z "$left" ] || { for f in $left; do tr '\0' ' ' < "$f"; echo; done; fail "ranks of the timed-out point still run"; }
echo "ok   start-up failure and timeout recorded, no rank left running"

# ---- 4. interruptions between points leave whole files and resume --------------------------------
cat > four.json <<JSON
{"base": {$base}, "grid": {"layout.micro_batches": [2, 3, 4]}}
JSON
wait_records() {  # wait_records N: until results.jsonl holds N records (at most 120 s)
  for _ in $(seq 1200); do
    [ "$(cat four/results.jsonl 2>/dev/null | wc -l)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "no $1 records in four/results.jsonl"
}
check_whole() {  # every CSV row has the header's fields; every JSON line parses
  "$python" - four <<'PY' || fail "results files damaged by an interruption"
import csv, json, sys, os
rows = list(csv.reader(open(os.path.join(sys.argv[1], "results.csv"))))
assert rows and all(len(r) == len(rows[0]) for r in rows), [len(r) for r in rows]
for line in open(os.path.join(sys.argv[1], "results.jsonl")):
    json.loads(line)
PY
}
"$trident" sweep four.json --out four > four_1.log 2>&1 &
pid=$!
wait_records 1
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || { cat four_1.log; fail "SIGINT should end the sweep with 130, got $rc"; }
grep -q "interrupted" four_1.log || fail "no 'interrupted' message"
check_whole
first=$(stat -c %Y four/micro_batches-2-*/train.log)
"$trident" sweep four.json --out four > four_2.log 2>&1 &
pid=$!
wait_records 2
kill -KILL "$pid"
wait "$pid" 2>/dev/null
sleep 1
check_whole
"$trident" sweep four.json --out four > four_3.log 2>&1 || { cat four_3.log; fail "the resumed sweep failed"; }
[ "$(stat -c %Y four/micro_batches-2-*/train.log)" = "$first" ] || fail "the resumed sweep re-ran the first point"
"$python" - four/results.csv <<'PY' || fail "the resumed sweep's CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["layout.micro_batches"] for r in rows] == ["2", "3", "4"], rows
assert all(r["status"] == "ok" for r in rows), [(r["status"], r["error"]) for r in rows]
PY
echo "ok   SIGINT and SIGKILL between points: whole files, the sweep resumes"

# ---- 5. the slurm launcher through a stand-in sbatch ---------------------------------------------
cat > slurm.json <<JSON
{"base": {$base}, "grid": {"layout.tp": [1, 2]}, "launcher": "slurm", "gpus_per_node": 2,
 "slurm": {"partition": "debug", "sbatch_args": ["--qos=test"]}}
JSON
PATH="$here/fixtures/sweeps/bin:$PATH" "$trident" sweep slurm.json --out slurm > slurm.log 2>&1 \
  || { cat slurm.log; fail "the slurm sweep failed"; }
script=$(ls slurm/tp-2-*/job.sbatch)
for line in "#SBATCH --nodes=2" "#SBATCH --ntasks=4" "#SBATCH --ntasks-per-node=2" "#SBATCH --partition=debug" \
            "#SBATCH --qos=test" "'mpirun' '-q' '-np' '4'" "'train' '--config'"; do
  grep -qF -- "$line" "$script" || { cat "$script"; fail "no '$line' in $script"; }
done
grep -qF -- "#SBATCH --nodes=1" slurm/tp-1-*/job.sbatch || fail "2 ranks with 2 per node should take 1 node"
"$python" - slurm/results.csv <<'PY' || fail "the slurm sweep's CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["status"] for r in rows] == ["ok", "ok"] and all(float(r["tokens_per_s"]) > 0 for r in rows), rows
PY
echo "ok   slurm launcher: sbatch scripts with nodes and tasks from gpus_per_node, results collected"

# ---- 6. malformed specs ---------------------------------------------------------------------------
expect_spec_error() {  # NAME SPEC_TEXT REGEX
  echo "$2" > bad.json
  out=$("$trident" sweep bad.json --out bad 2>&1)
  rc=$?
  [ "$rc" -eq 2 ] || fail "$1: exit $rc, wanted 2: $out"
  grep -Eq "$3" <<<"$out" || fail "$1: no /$3/ in: $out"
  echo "ok   $1: $(grep -Eo "$3.{0,50}" <<<"$out" | head -1)"
}
expect_spec_error "unknown key" '{"grid": {"layout.tp": [1]}, "gird": {}}' "unknown key 'gird'"
expect_spec_error "empty grid" '{"grid": {}}' "grid is empty"
expect_spec_error "wrong type" '{"grid": {"layout.tp": [1, "2"]}}' "grid.layout.tp\[1\] has the wrong type.*wanted an integer"
expect_spec_error "not JSON" '{"grid": ' "not valid JSON"
[ ! -e bad ] || fail "a malformed spec must not create the output folder"
echo "all sweep cases passed"
