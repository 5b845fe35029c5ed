#!/usr/bin/env bash
# Class 4: absurd sizes are bounded by what the plan implies before anything is allocated, and a
# plan that cannot fit the machine's memory is refused with its biggest term and the knob to turn
# (the simulator's memory model, experiments/sim/memory_model.h). Each case answers in seconds.
# Usage: limits.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

run="$work/run"
make_good_run "$run"
protect=("$run")

expect "absurd layers" 2 "model.layers is 100000000: more than 1048576 transformer blocks" \
  train 2 --set "out_dir=$run" --set model.layers=100000000
expect "absurd hidden" 2 "model: layers 2, hidden 4000000000, vocab 257 make .* parameters, beyond any machine" \
  train 2 --set "out_dir=$run" --set model.hidden=4000000000
expect "weights beyond memory" 2 "does not fit in memory: the f32 weights alone need at least .* per rank .*more layout.tp or layout.pp" \
  train 2 --set "out_dir=$run" --set model.hidden=65536 --set model.heads=4
expect "absurd micro-batches" 2 "layout.micro_batches 2000000000 x layout.pp 2 stages would make a schedule of .* actions, more than 2\^24" \
  train 2 --set "out_dir=$run" --set layout.micro_batches=2000000000
expect "absurd pipeline" 2 "layout.micro_batches 2 x layout.pp 1000000000 stages would make a schedule" \
  train 2 --set "out_dir=$run" --set layout.pp=1000000000
expect "absurd micro-batch size" 2 "one micro-batch's activations exceed 2\^50 elements|does not fit in memory" \
  train 2 --set "out_dir=$run" --set layout.micro_batch_size=2000000000
expect "activations beyond memory" 2 "does not fit in memory: stage [01] needs .* the biggest term is activations .*layout.recompute" \
  train 2 --set "out_dir=$run" --set layout.micro_batch_size=4096 --set model.seq_len=1024 --set model.hidden=256 \
  --set model.heads=8

# A schedule file whose header claims an absurd pipeline, and one far larger than any schedule.
printf 'schedule mine pp=2000000000 v=1 micro_batches=2\nstage0: F0.0 F1.0 B0.0 B1.0\n' > "$work/huge_pp.txt"
expect "schedule header pp" 2 "layout.schedule_file: .*huge_pp.txt: schedule line 1: pp=2000000000 declares more stages than" \
  train 2 --set "out_dir=$run" --set "layout.schedule_file=$work/huge_pp.txt"
truncate -s 100M "$work/huge_file.txt"
expect "schedule file size" 2 "layout.schedule_file '.*huge_file.txt' holds 104857600 bytes, more than a schedule" \
  train 2 --set "out_dir=$run" --set "layout.schedule_file=$work/huge_file.txt"
finish
