#!/usr/bin/env bash
# Class 5: ranks started with different inputs (flags, config files, environments, files) are one
# error naming the first differing field and the ranks, before any collective that depends on the
# config: no heap corruption, no hang, nothing written. MPMD launches (mpirun A : B) give each rank
# its own command line.
# Usage: disagreement.sh TRIDENT_BINARY WORKDIR
source "$(dirname "$0")/common.sh" "$@"

run="$work/run"
make_good_run "$run"
protect=("$run")
same=("${tiny[@]}" --set "out_dir=$run")

# mpmd "ARGS OF RANK 0" "ARGS OF RANK 1" ...: one rank per argument string (word-split).
mpmd() {
  local contexts=() first=1 args
  for args in "$@"; do
    [ "$first" -eq 1 ] || contexts+=(:)
    first=0
    # shellcheck disable=SC2206
    contexts+=(-np 1 $args "$trident" train "${same[@]}")
  done
  "${mpi[@]}" "${contexts[@]}"
}
# Per-rank train flags go after the shared ones, so they win.
mpmd_flags() {
  local contexts=() first=1 args
  for args in "$@"; do
    [ "$first" -eq 1 ] || contexts+=(:)
    first=0
    # shellcheck disable=SC2206
    contexts+=(-np 1 "$trident" train "${same[@]}" $args)
  done
  "${mpi[@]}" "${contexts[@]}"
}

expect "different --set" 2 "ranks were started with different inputs: /layout/micro_batches is 2 on rank 0 but 4 on rank 1 \(ranks differing from rank 0: 1\)" \
  mpmd_flags "" "--set layout.micro_batches=4"
echo '{"optimizer": {"lr": 0.001}}' > "$work/a.json"
echo '{"optimizer": {"lr": 0.002}}' > "$work/b.json"
expect "different config files" 2 "/optimizer/lr is 0.001 on rank 0 but 0.002 on rank 1" \
  mpmd_flags "--config $work/a.json" "--config $work/b.json"
expect "one rank's input invalid" 2 "rank 1: unknown key 'layout.stepz'.*\(ranks 1 of 2 failed; the others accepted their inputs" \
  mpmd_flags "" "--set layout.stepz=3"
expect "one rank's environment invalid" 2 "rank 1: TRIDENT_COMM_TIMEOUT_S='x' is not a positive number" \
  mpmd "" "-x TRIDENT_COMM_TIMEOUT_S=x"
cp "$work/data/fortunes_val.bin" "$work/val_copy.bin"
expect "different data files" 2 "/data/val is .* on rank 0 but .*val_copy.bin\" on rank 1" \
  mpmd_flags "" "--set data.val=$work/val_copy.bin"
same=("${tiny[@]}" --set "out_dir=$run" --set layout.dp=2)
expect "two of four ranks differ" 2 "/layout/recompute is \"none\" on rank 0 but \"full\" on rank 2 \(ranks differing from rank 0: 2, 3\)" \
  mpmd_flags "" "" "--set layout.recompute=full" "--set layout.recompute=full"
finish
