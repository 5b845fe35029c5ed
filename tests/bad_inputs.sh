#!/usr/bin/env bash
# Bad inputs to `trident train` on real MPI ranks: each must exit non-zero within seconds (no hang)
# with a message that names the problem. Usage: bad_inputs.sh TRIDENT_BINARY WORKDIR
set -uo pipefail
trident="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
small=(--set model.layers=2 --set model.hidden=32 --set model.heads=4 --set model.seq_len=16 --set steps=1
       --set layout.dp=1 --set layout.pp=2 --set layout.tp=1 --set layout.micro_batches=2 --set layout.micro_batch_size=1
       --set eval_interval=0 --set peak_flops=1e9 --set "out_dir=$work/run")
failures=0

# expect_failure NAME REGEX ARGS...: runs `mpirun -np 2 trident train ARGS`, wants exit != 0 within
# 60 s and REGEX in its output.
expect_failure() {
  local name="$1" regex="$2"
  shift 2
  local out rc start
  start=$(date +%s)
  out=$(timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$trident" train "$@" 2>&1)
  rc=$?
  local took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 124 ]; then
    echo "FAIL $name: hung (killed after 60 s)"; failures=$((failures + 1)); return
  fi
  if [ "$rc" -eq 0 ]; then
    echo "FAIL $name: exited 0"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  if ! grep -Eq "$regex" <<<"$out"; then
    echo "FAIL $name: exit $rc but no /$regex/ in:"; echo "$out" | head -8; failures=$((failures + 1)); return
  fi
  echo "ok   $name (exit $rc, ${took}s): $(grep -Eo "$regex.{0,60}" <<<"$out" | head -1)"
}

# Data: a small good token file, a truncated copy, and a checkpoint to corrupt.
timeout 120 mpirun -np 2 --oversubscribe --bind-to none "$trident" train "${small[@]}" --set checkpoint_interval=1 \
  > "$work/good_run.log" 2>&1 || { echo "FAIL: the good run itself failed"; cat "$work/good_run.log"; exit 1; }
# The good run's outputs: one metrics record, and a merged trace with compute events of both ranks.
[ "$(wc -l < "$work/run/metrics.jsonl")" -eq 1 ] || { echo "FAIL: metrics.jsonl should hold 1 record"; exit 1; }
for pid in 0 1; do
  grep -q "\"ph\":\"X\",\"pid\":$pid," "$work/run/trace.json" \
    || { echo "FAIL: trace.json has no complete events of rank $pid"; exit 1; }
done
train_bin=$(ls "$work"/data/fortunes_train.bin 2>/dev/null || true)
[ -n "$train_bin" ] || { echo "FAIL: the good run made no corpus under $work/data"; exit 1; }
head -c 2000 "$train_bin" > "$work/truncated.bin"
ckpt="$work/run/checkpoints/step_1"
cp -r "$ckpt" "$work/corrupt_ckpt"
printf 'x' | dd of="$work/corrupt_ckpt/model-pp0.safetensors" bs=1 seek=200 conv=notrunc status=none
echo '{"layout": {"tp": 2,}' > "$work/malformed.json"
echo '{"layout": {"tpp": 2}}' > "$work/unknown_key.json"

expect_failure "malformed JSON" "parse error|does not parse|syntax error" --config "$work/malformed.json" "${small[@]}"
expect_failure "unknown key" "unknown key 'layout.tpp'" --config "$work/unknown_key.json" "${small[@]}"
expect_failure "unknown --set key" "unknown key 'optimizer.lrr'" "${small[@]}" --set optimizer.lrr=1
expect_failure "world size mismatch" "world size 2 does not equal dp\*pp\*tp = 1\*2\*2 = 4" "${small[@]}" --set layout.tp=2
expect_failure "heads not divisible by tp" "model.heads 3 is not divisible by layout.tp 2" "${small[@]}" \
  --set layout.pp=1 --set layout.tp=2 --set model.heads=3 --set model.hidden=24
expect_failure "micro-batches vs schedule" "not a multiple of pp=2" "${small[@]}" --set layout.schedule=interleaved \
  --set layout.micro_batches=3
expect_failure "missing data file" "data.train.*$work/nope.bin" "${small[@]}" --set "data.train=$work/nope.bin"
expect_failure "truncated data file" "truncated" "${small[@]}" --set "data.train=$work/truncated.bin" \
  --set "data.val=$work/truncated.bin"
expect_failure "corrupt checkpoint" "CRC-32" "${small[@]}" --set "resume=$work/corrupt_ckpt"
expect_failure "not a checkpoint" "no trainer.json" "${small[@]}" --set "resume=$work"
expect_failure "bf16 on the CPU" "precision bf16 needs device cuda" "${small[@]}" --set precision=bf16
expect_failure "NCCL on the CPU" "comm nccl needs device cuda" "${small[@]}" --set comm=nccl
expect_failure "unknown precision" "precision is 'fp8'" "${small[@]}" --set precision=fp8
# Asking for a GPU where there is none (or in a CPU-only build) is a clear error, not a crash.
if "$trident" info 2>&1 | grep -Eq "GPUs +none|CUDA backend +not built"; then
  expect_failure "cuda without a GPU" "device is cuda, but" "${small[@]}" --set device=cuda
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures bad-input case(s) failed"
  exit 1
fi
echo "all bad-input cases exit non-zero with a clear message"
