#!/usr/bin/env bash
# resume=auto: a 4-rank run killed mid-training (one rank SIGKILLed, so the launcher ends the job)
# and restarted with the same command continues from the newest complete checkpoint in its out_dir
# (never an interrupted step_N.tmp save, nor a folder without its manifest), and its final weights
# and optimizer state equal an uninterrupted run's bit for bit; metrics.jsonl holds every step once.
# Usage: resume_auto.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

# A model just big enough that a step takes ~0.2 s on a loaded 2-core machine: the kill, made as
# soon as the step-3 checkpoint is complete, then has the 6 steps after it (over a second) of margin.
# (With the tiny model the whole run takes ~20 ms and finished before any poll could stop it.)
steps=9
kill_after=3
job=("${tiny[@]}" --set model.layers=4 --set model.hidden=128 --set model.seq_len=64 --set layout.micro_batches=4
     --set layout.micro_batch_size=2 --set layout.dp=2 --set layout.pp=2 --set layout.tp=1 --set "steps=$steps"
     --set checkpoint_interval=3 --set resume=auto --set "data.train=$work/data/fortunes_train.bin"
     --set "data.val=$work/data/fortunes_val.bin")
# The corpus the runs share, made once by a first tiny run.
make_good_run "$work/corpus_run"

# The reference: uninterrupted. resume=auto with no checkpoint yet starts from scratch.
timeout 120 "${launcher[@]}" -np 4 "$trident" train "${job[@]}" --set "out_dir=$work/whole" > "$work/whole.log" 2>&1 \
  || { echo "FAIL: the uninterrupted run failed"; cat "$work/whole.log"; exit 1; }

# The interrupted run: one rank SIGKILLed once the step-3 checkpoint is complete (the victim is
# looked up while the run starts, so the kill follows the checkpoint within one 20 ms poll).
log="$work/cut.log"
"${launcher[@]}" -np 4 "$trident" train "${job[@]}" --set "out_dir=$work/cut" > "$log" 2>&1 &
job_pid=$!
victim=""
for _ in $(seq 3000); do
  [ -n "$victim" ] || victim=$(ps -o pid= --ppid "$job_pid" | head -1)
  [ -n "$victim" ] && [ -f "$work/cut/checkpoints/step_$kill_after/trainer.json" ] && break
  kill -0 "$job_pid" 2>/dev/null || break
  sleep 0.02
done
[ -n "$victim" ] && kill -KILL "$victim"
wait "$job_pid"
[ -f "$work/cut/checkpoints/step_$kill_after/trainer.json" ] \
  || { echo "FAIL: the run died before step $kill_after"; cat "$log"; exit 1; }
if [ -f "$work/cut/checkpoints/step_$steps/trainer.json" ]; then
  echo "FAIL: the run finished before it could be killed"; exit 1
fi
newest=$(ls "$work/cut/checkpoints" | grep -E '^step_[0-9]+$' | sed 's/step_//' | sort -n | tail -1)
# What a crash mid-save leaves, newer than anything complete: auto must pass both by.
mkdir -p "$work/cut/checkpoints/step_$((steps - 1)).tmp" "$work/cut/checkpoints/step_$((steps - 2))"
echo "torn" > "$work/cut/checkpoints/step_$((steps - 1)).tmp/model-pp0.safetensors"

timeout 120 "${launcher[@]}" -np 4 "$trident" train "${job[@]}" --set "out_dir=$work/cut" > "$work/restart.log" 2>&1 \
  || { fail "the restarted run failed"; cat "$work/restart.log"; finish; }
grep -q "resumed from $work/cut/checkpoints/step_$newest at step $newest" "$work/restart.log" \
  || fail "the restart did not resume from the newest complete checkpoint (step_$newest)"
for f in "$work/whole/checkpoints/step_$steps"/*.safetensors; do
  cmp -s "$f" "$work/cut/checkpoints/step_$steps/$(basename "$f")" \
    || fail "$(basename "$f") differs from the uninterrupted run's"
done
recorded=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["step"]) for l in open(sys.argv[1]) if l.strip()))' \
  "$work/cut/metrics.jsonl")
[ "$recorded" = "$(seq -s ' ' 1 $steps)" ] || fail "metrics.jsonl steps are '$recorded', wanted 1 .. $steps once each"

# Restarting a finished run has nothing to do and changes nothing.
protect=("$work/cut")
expect "restart of a finished run" 0 "nothing to do: .*step_$steps is at the last step" \
  "${mpi[@]}" -np 4 "$trident" train "${job[@]}" --set "out_dir=$work/cut"
[ "$failures" -eq 0 ] && echo "ok   killed after step_$newest, resumed with resume=auto: final weights and moments bit-identical"
finish
