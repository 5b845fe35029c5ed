#!/usr/bin/env bash
# Class 1: nothing is written before everything is validated. A finished run's folder (config.json,
# metrics, summary, trace, checkpoints) is the out_dir of every case below; each case is refused in
# the input phase (exit 2, naming the field or file) and leaves every one of those files as it was.
# Usage: written_before_validating.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

run="$work/run"
make_good_run "$run"
ckpt="$run/checkpoints/step_2"
protect=("$run")

# Token ids against the vocabulary, and a file too short for one sequence.
expect "token id above model.vocab" 2 "data.train '.*' holds token id [0-9]+ but model.vocab is 100" \
  train 2 --set "out_dir=$run" --set model.vocab=100
python3 - "$work/short.bin" <<'EOF'
import struct, sys
tokens = [1, 2, 3, 4, 5, 6, 7, 8]
header = [20240520, 1, len(tokens)] + [0] * 253
open(sys.argv[1], "wb").write(struct.pack("<256i", *header) + struct.pack(f"<{len(tokens)}H", *tokens))
EOF
expect "data shorter than one sequence" 2 "data.val: token file .*short.bin: file has 8 tokens, fewer than seq_len\+1 = 17" \
  train 2 --set "out_dir=$run" --set "data.val=$work/short.bin"

# A checkpoint against the model: another model's sizes, a tensor of the wrong dtype, a missing tensor.
expect "checkpoint of another model" 2 "checkpoint '.*step_2' is for model.hidden = 32 but this run has model.hidden = 64" \
  train 2 --set "out_dir=$run" --set "resume=$ckpt" --set model.hidden=64 --set steps=4
cp -r "$ckpt" "$work/ck_dtype"
python3 "$here/edit_checkpoint.py" "$work/ck_dtype" header h.0.attn.c_attn.weight dtype '"I32"'
protect=("$run" "$work/ck_dtype")
expect "checkpoint tensor of the wrong dtype" 2 "tensor 'h.0.attn.c_attn.weight' is i32 \[32, 96\] but this model needs f32 \[32, 96\]" \
  train 2 --set "out_dir=$run" --set "resume=$work/ck_dtype" --set steps=4
cp -r "$ckpt" "$work/ck_renamed"
python3 "$here/edit_checkpoint.py" "$work/ck_renamed" rename h.1.mlp.c_fc.bias h.1.mlp.c_fx.bias
protect=("$run" "$work/ck_renamed")
expect "checkpoint missing a tensor" 2 "checkpoint '.*ck_renamed' has no tensor 'h.1.mlp.c_fc.bias'" \
  train 2 --set "out_dir=$run" --set "resume=$work/ck_renamed" --set steps=4
protect=("$run")

# The memory plan, the device, the output folder itself.
expect "activations beyond memory" 2 "does not fit in memory: stage [01] needs .* the biggest term is activations .*layout.recompute" \
  train 2 --set "out_dir=$run" --set layout.micro_batch_size=4096 --set model.seq_len=1024 --set model.hidden=256 \
  --set model.heads=8
if "$trident" info 2>&1 | grep -Eq "GPUs +none|CUDA backend +not built"; then
  expect "cuda without a GPU" 2 "device is cuda, but" train 2 --set "out_dir=$run" --set device=cuda
fi
echo "not a folder" > "$work/a_file"
protect=("$run" "$work/a_file")
expect "out_dir is a file" 2 "out_dir '.*a_file/sub': '.*a_file' exists and is not a directory" \
  train 2 --set "out_dir=$work/a_file/sub"
finish
