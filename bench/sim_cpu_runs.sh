#!/usr/bin/env bash
# sim_cpu_runs.sh BUILD OUT [STEPS]: the simulator against trident's own runs on this machine, in one
# session. Calibrates the machine (trident calibrate, 2 ranks) into OUT/cpu.json, trains the `mini`
# model for STEPS steps (default 8) in every layout below (1-2 ranks: serial, tp2 with and without
# sequence parallelism, pp2 with each schedule and several micro-batch counts, dp2 with ZeRO 0-2;
# then 4 and 8 oversubscribed ranks), each into OUT/<name>/, then prints measured vs simulated:
#   build/bench/bench_simulator --cpu-runs OUT --benchmark_filter=none
# The load average before and after each run is kept in OUT/load.txt: other processes on the
# machine slow measured runs down, so report it with the numbers.
set -euo pipefail
build="$1"; out="$2"; steps="${3:-8}"
here="$(cd "$(dirname "$0")/.." && pwd)"
trident="$build/experiments/trident"
launch="$here/experiments/launch/launch.sh"
mkdir -p "$out"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "calibrate: $(load)" | tee "$out/load.txt"
"$launch" 2 "$trident" calibrate --out "$out/cpu.json" | tail -3

# name ranks overrides...
run() {
  local name="$1" ranks="$2"; shift 2
  local sets=(--set model.preset=mini --set steps="$steps" --set eval_interval=0 --set log_interval=100
              --set out_dir="$out/$name" --set layout.micro_batch_size=2)
  for s in "$@"; do sets+=(--set "$s"); done
  local before; before="$(load)"
  "$launch" "$ranks" "$trident" train "${sets[@]}" > "$out/$name.log" 2>&1
  echo "$name ranks=$ranks load before: $before after: $(load)" | tee -a "$out/load.txt"
}
one="layout.dp=1 layout.pp=1 layout.tp=1"
run serial_m4 1 $one layout.micro_batches=4
run serial_m8 1 $one layout.micro_batches=8
run tp2_m4 2 layout.dp=1 layout.pp=1 layout.tp=2 layout.micro_batches=4
run tp2_sp_m4 2 layout.dp=1 layout.pp=1 layout.tp=2 layout.micro_batches=4 layout.sequence_parallel=true
run pp2_gpipe_m4 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=gpipe layout.micro_batches=4
run pp2_1f1b_m2 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=1f1b layout.micro_batches=2
run pp2_1f1b_m4 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=1f1b layout.micro_batches=4
run pp2_1f1b_m8 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=1f1b layout.micro_batches=8
run pp2_interleaved_m4 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=interleaved layout.v=2 layout.micro_batches=4
run pp2_zbh1_m4 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=zb-h1 layout.micro_batches=4
run pp2_zbv_m4 2 layout.dp=1 layout.pp=2 layout.tp=1 layout.schedule=zb-v layout.v=2 layout.micro_batches=4
run dp2_zero0_m4 2 layout.dp=2 layout.pp=1 layout.tp=1 layout.micro_batches=4 layout.zero=0
run dp2_zero1_m4 2 layout.dp=2 layout.pp=1 layout.tp=1 layout.micro_batches=4 layout.zero=1
run dp2_zero2_m4 2 layout.dp=2 layout.pp=1 layout.tp=1 layout.micro_batches=4 layout.zero=2
run x4_dp2_pp2_m4 4 layout.dp=2 layout.pp=2 layout.tp=1 layout.micro_batches=4
run x8_dp2_pp2_tp2_m4 8 layout.dp=2 layout.pp=2 layout.tp=2 layout.micro_batches=4

"$build/bench/bench_simulator" --cpu-runs "$out" --benchmark_filter=none 2>&1 | sed -n '/== trident/,$p;/^bench_simulator:/p'
echo "load average at the end: $(load)"
