#!/usr/bin/env bash
# Train, then look at it — as users run it, on real MPI ranks: a pp2 run saves a checkpoint; greedy
# `trident generate` prints the same text serially and under tp2 and reports tokens/s; `trident
# export` writes a Hugging Face folder that `generate` and `init_from` (under another layout) read;
# bad prompts and flags exit 2 within seconds naming the problem. Usage: model_cli.sh TRIDENT WORKDIR
set -uo pipefail
trident="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
run() { local np="$1"; shift; timeout 120 mpirun -np "$np" --oversubscribe --bind-to none "$trident" "$@"; }
fail() { echo "FAIL $*"; exit 1; }
small=(--set model.layers=2 --set model.hidden=32 --set model.heads=4 --set model.seq_len=32 --set steps=4
       --set layout.dp=1 --set layout.tp=1 --set layout.micro_batches=2 --set layout.micro_batch_size=2
       --set eval_interval=0 --set peak_flops=1e9 --set checkpoint_interval=4)

run 2 train "${small[@]}" --set layout.pp=2 --set "out_dir=$work/run" > "$work/train.log" 2>&1 \
  || { cat "$work/train.log"; fail "the training run"; }
ckpt="$work/run/checkpoints/step_4"
[ -f "$work/run/tokenizer.json" ] || fail "the run recorded no tokenizer.json"

gen=(generate --checkpoint "$ckpt" --prompt "The cat" --max-new-tokens 12 --temperature 0)
run 1 "${gen[@]}" --out "$work/serial.json" > "$work/serial.log" 2>&1 || { cat "$work/serial.log"; fail "generate serially"; }
run 2 "${gen[@]}" --tp 2 --out "$work/tp2.json" > "$work/tp2.log" 2>&1 || { cat "$work/tp2.log"; fail "generate tp2"; }
grep -q "tokens/s" "$work/serial.log" || fail "generate reports no tokens/s"
ids() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['samples'][0]['ids'])" "$1"; }
[ "$(ids "$work/serial.json")" = "$(ids "$work/tp2.json")" ] || fail "greedy tokens differ: serial $(ids "$work/serial.json") tp2 $(ids "$work/tp2.json")"
echo "ok   generate: serial and tp2 greedy tokens agree: $(ids "$work/serial.json")"

run 1 export --checkpoint "$ckpt" --out "$work/hf" > "$work/export.log" 2>&1 || { cat "$work/export.log"; fail "export"; }
for f in config.json model.safetensors trident_tokenizer.json; do [ -f "$work/hf/$f" ] || fail "export wrote no $f"; done
run 2 "${gen[@]/$ckpt/$work/hf}" --pp 2 --out "$work/hf_pp2.json" > "$work/hf.log" 2>&1 || { cat "$work/hf.log"; fail "generate from the folder"; }
[ "$(ids "$work/hf_pp2.json")" = "$(ids "$work/serial.json")" ] || fail "the exported folder generates other tokens"
echo "ok   export: the folder generates the checkpoint's tokens under pp2"
run 2 train "${small[@]}" --set layout.pp=1 --set layout.tp=2 --set "init_from=$work/hf" --set "out_dir=$work/run2" \
  > "$work/init.log" 2>&1 || { cat "$work/init.log"; fail "train with init_from"; }
grep -q "initialised from" "$work/init.log" || fail "init_from did not say it loaded the folder"
echo "ok   init_from: trained from the folder under tp2"

source "$(dirname "$0")/expect_usage.sh"
long=$(printf 'x%.0s' $(seq 40))
expect_usage "empty prompt" "the prompt is empty" generate --checkpoint "$ckpt" --prompt ""
expect_usage "over-long prompt" "the prompt is 40 tokens but the model's context is 32" generate --checkpoint "$ckpt" --prompt "$long"
expect_usage "ids outside the vocabulary" "prompt token 1 is 999, outside the model's vocabulary of 257" \
  generate --checkpoint "$ckpt" --prompt-ids 1,999
expect_usage "malformed ids" "'x' is not a token id" generate --checkpoint "$ckpt" --prompt-ids 1,x
expect_usage "no weights" "neither a training checkpoint" generate --checkpoint "$work" --prompt hi
expect_usage "export over a folder" "already exists" export --checkpoint "$ckpt" --out "$work/hf"
expect_usage "init_from another model" "model.layers is 3 but n_layer is 2" \
  train "${small[@]}" --set layout.pp=1 --set model.layers=3 --set "init_from=$work/hf" --set "out_dir=$work/run3"
[ "$failures" -eq 0 ] || exit 1
