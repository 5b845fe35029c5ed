#!/usr/bin/env bash
# Class 3: every error a user can cause is one line naming the file, the field (as a JSON pointer
# where it comes from JSON) and the fix; never a segfault, a stack trace or a bare JSON-library error.
# Usage: messages.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

run="$work/run"
make_good_run "$run"
ckpt="$run/checkpoints/step_1"
protect=("$run")

# Config files: nesting that would overflow the stack, a directory, a number beyond double, bad syntax.
python3 -c 'print("{\"model\": " + "[" * 200000 + "]" * 200000 + "}")' > "$work/deep.json"
expect "deeply nested config" 2 "config file '.*deep.json' nests values deeper than 64 levels \(at /model/0/0/0" \
  train 2 --set "out_dir=$run" --config "$work/deep.json"
mkdir -p "$work/config_dir"
expect "directory as --config" 2 "config file '.*config_dir' is a directory: give the path of a JSON file" \
  train 2 --set "out_dir=$run" --config "$work/config_dir"
echo '{"optimizer": {"warmup_steps": 2, "lr": 1e400}}' > "$work/overflow.json"
expect "number beyond double" 2 "config file '.*overflow.json' is not valid JSON at /optimizer/lr: .*number overflow" \
  train 2 --set "out_dir=$run" --config "$work/overflow.json"
echo '{"layout": {"tp": 1,, "pp": 2}}' > "$work/syntax.json"
expect "syntax error" 2 "config file '.*syntax.json' is not valid JSON at /layout/tp: parse error at line 1" \
  train 2 --set "out_dir=$run" --config "$work/syntax.json"
deep_set="$(python3 -c 'print("[" * 60000 + "]" * 60000)')"  # under the 128 KiB an argument may have
expect "deeply nested --set value" 2 "override 'model.layers' nests values deeper than 64 levels" \
  train 2 --set "out_dir=$run" --set "model.layers=$deep_set"
expect "wrong type in --set" 2 "layout.micro_batches has the wrong type: found string \"many\", wanted an integer" \
  train 2 --set "out_dir=$run" --set layout.micro_batches=many

# The environment.
for bad in abc 1e999; do
  expect "TRIDENT_COMM_TIMEOUT_S=$bad" 2 "TRIDENT_COMM_TIMEOUT_S='$bad' is not a positive number of seconds" \
    env TRIDENT_COMM_TIMEOUT_S="$bad" "${mpi[@]}" -np 2 "$trident" train "${tiny[@]}" --set "out_dir=$run"
done

# A checkpoint manifest edited by hand: a wrong type, a missing field, not JSON at all.
damaged() {
  rm -rf "$work/$1" && cp -r "$ckpt" "$work/$1"
  protect=("$run" "$work/$1")
}
damaged string_step
python3 "$here/edit_checkpoint.py" "$work/string_step" set /step '"5"'
expect "step as a string" 2 "string_step' \(trainer.json\): /step is \"5\": it must be an integer" \
  train 2 --set "out_dir=$run" --set "resume=$work/string_step" --set steps=4
damaged no_samples
python3 "$here/edit_checkpoint.py" "$work/no_samples" remove /samples_consumed
expect "missing manifest field" 2 "/samples_consumed is missing; the manifest is damaged" \
  train 2 --set "out_dir=$run" --set "resume=$work/no_samples" --set steps=4
damaged garbage_manifest
printf '{"format": "trident-checkpoint-1", "step": 1,' > "$work/garbage_manifest/trainer.json"
expect "manifest not JSON" 2 "checkpoint manifest '.*garbage_manifest/trainer.json' is not valid JSON at /step" \
  train 2 --set "out_dir=$run" --set "resume=$work/garbage_manifest" --set steps=4

# Command lines.
protect=("$run")
expect "unknown flag" 2 "unrecognised option '--steps'" train 2 --set "out_dir=$run" --steps 3
expect "unknown command" 2 "unknown command 'trian'" "${mpi[@]}" -np 2 "$trident" trian
finish
