#!/usr/bin/env bash
# Class 2: bad state read from disk is refused, never trained on. Checkpoints whose manifest holds
# values out of range (a negative step would mean a negative learning rate), non-finite weights or
# moments, or file names pointing out of the checkpoint are refused before anything is written
# (exit 2, naming the field as a JSON pointer or the tensor and index); a run whose steps are all
# skipped as non-finite stops after max_consecutive_skips of them (exit 1).
# Usage: bad_state.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

run="$work/run"
make_good_run "$run"
ckpt="$run/checkpoints/step_1"

# damaged NAME EDIT...: a copy of the checkpoint with one edit (tests/faults/edit_checkpoint.py).
damaged() {
  local name="$1"
  shift
  rm -rf "$work/$name" && cp -r "$ckpt" "$work/$name"
  python3 "$here/edit_checkpoint.py" "$work/$name" "$@"
  protect=("$run" "$work/$name")
}
resume() { train 2 --set "out_dir=$run" --set "resume=$work/$1" --set steps=4; }

damaged negative_step set /step -3
expect "negative step" 2 "trainer.json\): /step is -3: it must be an integer in \[0, 2147483647\]" resume negative_step
damaged future_updates set /optimizer_steps 5
expect "more updates than steps" 2 "/optimizer_steps is 5: it must be an integer in \[0, 1\]" resume future_updates
damaged negative_samples set /samples_consumed -8
expect "negative data position" 2 "/samples_consumed is -8" resume negative_samples
damaged zero_layers set /model/layers 0
expect "model size out of range" 2 "/model/layers is 0: it must be an integer in \[1, " resume zero_layers
damaged escaping_file set /files/..~1..~1etc~1passwd '{"bytes": 1, "crc32": 1}'
expect "file name out of the checkpoint" 2 "/files/..~1..~1etc~1passwd is not a plain file name" resume escaping_file
damaged nan_weight poison h.1.mlp.c_fc.weight 37
expect "NaN weight" 2 "tensor 'h.1.mlp.c_fc.weight' holds nan at \[0, 37\] \(1 of 4096 values are not finite\)" resume nan_weight
damaged nan_moment poison wte.weight.exp_avg_sq 300
expect "NaN optimizer moment" 2 "tensor 'wte.weight.exp_avg_sq' holds nan at \[9, 12\]" resume nan_moment
protect=("$run")
expect "checkpoint at the last step" 2 "is at step 2 and steps is 2: nothing is left to train" \
  train 2 --set "out_dir=$run" --set "resume=$run/checkpoints/step_2"

# A run that diverges: the loss turns non-finite and every later step is skipped; it must stop.
protect=("$run")
expect "every step skipped" 1 "steps [0-9]+ to [0-9]+ were all skipped: the loss or the gradient norm was not finite \(max_consecutive_skips = 3\)" \
  train 2 --set "out_dir=$work/diverging" --set steps=200 --set optimizer.lr=1e30 --set optimizer.warmup_steps=0 \
  --set optimizer.grad_clip=0 --set max_consecutive_skips=3
finish
