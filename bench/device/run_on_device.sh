#!/usr/bin/env bash
# The one prepared command of a GPU session (see bench/device/README.md): unpacks the bundle that
# make_bundle.sh built, points the dynamic linker and Open MPI at it, and runs every GPU test and
# benchmark of issue 15, each step under its own `timeout` inside one overall budget, writing logs
# and JSON to $OUT. Nothing is installed: Debian's libraries stay in /tmp/trident-device.
#
#   bash bench/device/run_on_device.sh                  # every step, in priority order
#   bash bench/device/run_on_device.sh gpt_step paths   # only these steps (names: `--list`)
#
# Environment: OUT (default ./device-out), BUDGET_S (default 420: the steps end by then; with the
# machine's start that leaves a 15-minute session room for one rerun, see README.md), BUNDLE (default
# bench/device/bundle/payload.tar.xz).
#
# $OUT receives at most 8 files (the tool's limit): summary.txt (one line per step), summary.json,
# environment.txt (GPU, driver, libraries found), bench_cuda_ops.json, bench_gpt_step.json,
# train_metrics.jsonl, gpt_step_simulated.json (the simulator's estimate of the benchmarked step, for
# peak_GB against weights + grads + Adam + activations), logs.tar.gz (every step's log and JSON).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$ROOT/device-out}
BUDGET_S=${BUDGET_S:-420}
BUNDLE=${BUNDLE:-$ROOT/bench/device/bundle/payload.tar.xz}
R=/tmp/trident-device            # the unpacked bundle
W=/tmp/trident-device-work       # logs and JSON, packed into $OUT at the end
START=$(date +%s)
DEADLINE=$((START + BUDGET_S))

# ---- the steps, in priority order: what answers the most comes first ---------------------------
# name|timeout seconds|command (run by bash -c from $W, with the environment below)
MPI="mpirun --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x OPENBLAS_NUM_THREADS -x TRIDENT_COMM_TIMEOUT_S"
GPU_MPI="$MPI -np %s $R/bin/test_gpu_mpi --gtest_filter=%s"
# The simulator's time and memory for bench_gpt_step's GPU case (gpt_1_3b(): L24 h2048 nh16 S1024
# V50304, one micro-batch of 8, bf16 + f32 master, one rank) on its H200 cluster file: peak_GB
# measured against weights + grads + Adam + activations predicted. CPU only; the cluster file is read
# from this tree (the binary's built-in path is this machine's).
SIMULATE_GPT_STEP="$R/bin/trident simulate --cluster $ROOT/experiments/sim/clusters/h200.json \
  --set model.layers=24 --set model.hidden=2048 --set model.heads=16 --set model.seq_len=1024 \
  --set model.vocab=50304 --set layout.dp=1 --set layout.pp=1 --set layout.tp=1 \
  --set layout.micro_batches=1 --set layout.micro_batch_size=8 --set device=cuda --set precision=bf16 \
  --json $W/gpt_step_simulated.json"
STEPS=(
  "preflight|60|preflight"
  "test_gpu|120|$R/bin/test_gpu --gtest_output=json:$W/test_gpu.json"
  "paths_clip_skip|90|$(printf "$GPU_MPI" 1 GpuTrainingPaths.ClipAndNonFiniteSkipMatchCpu)"
  "paths_zero1_ckpt_eval|120|$(printf "$GPU_MPI" 2 GpuTrainingPaths.ZeroOneCheckpointAndEvaluationMatchCpu)"
  "paths_bf16_resume|90|$(printf "$GPU_MPI" 1 GpuTrainingPaths.MixedPrecisionResumeFollowsUninterruptedRun)"
  "serial_parity|90|$(printf "$GPU_MPI" 1 GpuTraining.SerialF32MatchesCpu)"
  "bench_cuda_ops|150|$R/bin/bench_cuda_ops --benchmark_out=$W/bench_cuda_ops.json --benchmark_out_format=json"
  "gpt_step|240|$R/bin/bench_gpt_step --benchmark_filter=gpu --benchmark_out=$W/bench_gpt_step.json --benchmark_out_format=json"
  "gpt_step_simulated|30|$SIMULATE_GPT_STEP"
  "tp2_parity|120|$(printf "$GPU_MPI" 2 GpuTraining.TensorParallelF32MatchesCpuSerial)"
  "pp2_parity|150|$(printf "$GPU_MPI" 2 GpuTraining.PipelineF32MatchesCpuSerial)"
  "3d_bf16_parity|240|$(printf "$GPU_MPI" 8 GpuTraining.ThreeDMixedPrecisionFollowsCpuTrajectory)"
  "staging_np1|60|$MPI -np 1 $R/bin/test_nccl_comm --gtest_filter=MpiStaging.*:NcclCommunicator.*:DeviceWorld.*"
  "staging_np2|60|$MPI -np 2 $R/bin/test_nccl_comm --gtest_filter=MpiStaging.*:NcclCommunicator.*:DeviceWorld.*"
  "staging_np4|60|$MPI -np 4 $R/bin/test_nccl_comm --gtest_filter=MpiStaging.*:NcclCommunicator.*:DeviceWorld.*"
  "cli_train|120|cli_train"
  "memcheck|120|memcheck"
)

# ---- helpers ------------------------------------------------------------------------------------
log() { printf '[%4ds] %s\n' $(($(date +%s) - START)) "$*"; }

# The directory holding the first file named $1 under the given roots (newest CUDA first).
find_lib_dir() {
  local name=$1 root hit
  shift
  for root in "$@"; do
    [ -d "$root" ] || continue
    hit=$(find -L "$root" -maxdepth 6 -name "$name" \( -type f -o -type l \) 2>/dev/null | sort -r | head -1)
    [ -n "$hit" ] && { dirname "$hit"; return 0; }
  done
  return 1
}

# CUDA libraries the programs link: the toolkit's (it matches the driver) first, then PyTorch's
# environment (cuDNN and NCCL come as wheels there), then the system's.
setup_cuda_libs() {
  local roots=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda)
  local py
  # The `nvidia` namespace package of the machine's python3 (the PyTorch one), wherever it lives.
  py=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null) && [ -d "$py" ] && roots+=("$py")
  for py in /opt/torch/.venv/lib/python3*/site-packages/nvidia /usr/local/lib/python3*/dist-packages/nvidia \
    /usr/lib/python3/dist-packages/nvidia; do
    [ -d "$py" ] && roots+=("$py")
  done
  roots+=(/usr/lib/x86_64-linux-gnu /usr/local/lib /opt)
  local lib dir dirs=""
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 libcudnn.so.9 libnccl.so.2; do
    if dir=$(find_lib_dir "$lib" "${roots[@]}"); then
      echo "  $lib: $dir"
      case ":$dirs:" in *":$dir:"*) ;; *) dirs=${dirs:+$dirs:}$dir ;; esac
    else
      echo "  $lib: NOT FOUND"
    fi
  done
  CUDA_LIB_DIRS=$dirs
}

setup_environment() {
  local lib=$R/sysroot/usr/lib/x86_64-linux-gnu
  setup_cuda_libs
  export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread:$lib/openmpi/lib:$lib/pmix2/lib:$CUDA_LIB_DIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Debian's libstdc++ only where the machine's is older than the programs need.
  if ldd "$R/bin/test_gpu" 2>&1 | grep -q "GLIBCXX.*not found\|libstdc++.so.6 => not found"; then
    export LD_LIBRARY_PATH="$R/fallback:$LD_LIBRARY_PATH"
    echo "  libstdc++: the machine's is older than the programs need, using Debian's (fallback/)"
  fi
  export PATH="$R/bin:$R/sysroot/usr/bin:$PATH"
  # Open MPI 4.1 and PMIx 4.2 moved from their Debian paths to the sysroot.
  local s=$R/sysroot
  export OPAL_PREFIX=$s/usr OPAL_EXEC_PREFIX=$s/usr OPAL_BINDIR=$s/usr/bin OPAL_SBINDIR=$s/usr/sbin
  export OPAL_LIBEXECDIR=$s/usr/libexec OPAL_DATAROOTDIR=$s/usr/share OPAL_DATADIR=$s/usr/share
  export OPAL_SYSCONFDIR=$s/etc/openmpi OPAL_LIBDIR=$lib/openmpi/lib OPAL_INCLUDEDIR=$lib/openmpi/include
  export OPAL_PKGDATADIR=$s/usr/share/openmpi OPAL_PKGLIBDIR=$lib/openmpi/lib/openmpi3
  export OPAL_PKGINCLUDEDIR=$lib/openmpi/include/openmpi
  export OMPI_MCA_mca_base_component_path=$lib/openmpi/lib/openmpi3
  export PMIX_PREFIX=$lib/pmix2 PMIX_EXEC_PREFIX=$lib/pmix2 PMIX_LIBDIR=$lib/pmix2/lib
  export PMIX_PKGLIBDIR=$lib/pmix2/lib/pmix PMIX_DATADIR=$lib/pmix2/share PMIX_PKGDATADIR=$lib/pmix2/share/pmix
  export PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
  # One node, shared memory and loopback only; no CMA (ptrace is often refused in VMs and containers).
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
  export OMPI_MCA_mca_base_component_show_load_errors=0 HWLOC_HIDE_ERRORS=1
  # Several ranks share cores and the GPU; a dead peer ends a test in a minute, not at its timeout.
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 TRIDENT_COMM_TIMEOUT_S=60
}

preflight() {
  echo "== machine"; uname -a; (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"); nproc; free -g | head -2
  echo "== GPU"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv 2>&1
  nvidia-smi 2>&1 | head -15
  echo "== bundle"; cat "$R/MANIFEST"
  echo "== libraries"; echo "$LIBRARY_REPORT"
  local b missing=0
  for b in "$R"/bin/*; do
    if ldd "$b" | grep "not found"; then echo "  $(basename "$b"): libraries missing"; missing=1; fi
  done
  echo "== trident info"; timeout 30 "$R/bin/trident" info 2>&1
  echo "== MPI across 2 ranks"; timeout 30 $MPI -np 2 "$R/bin/trident" mesh --dp 2 --pp 1 --tp 1 2>&1 | tail -5
  echo "== tools"; command -v compute-sanitizer ncu nsys cuobjdump 2>&1 || true
  return $missing
}

# The CLI end to end on the GPU: the default model on one rank (bf16), evaluation and checkpoints,
# then a resume from the last checkpoint.
cli_train() {
  local out=$W/cli_run train val
  if ! nvidia-smi -L >/dev/null 2>&1; then echo "[  SKIPPED ] 1 test: no GPU (nvidia-smi -L failed)"; return 0; fi
  train=$(ls "$R"/data/*train*.bin | head -1) val=$(ls "$R"/data/*val*.bin | head -1)
  local common=(--set device=cuda --set layout.dp=1 --set layout.pp=1 --set layout.tp=1
                --set data.train="$train" --set data.val="$val")
  timeout 100 "$R/bin/trident" train "${common[@]}" --set steps=40 --set eval_interval=20 \
    --set checkpoint_interval=20 --set out_dir="$out" || return $?
  cp "$out/metrics.jsonl" "$W/train_metrics.jsonl"
  timeout 60 "$R/bin/trident" train "${common[@]}" --set steps=50 --set eval_interval=25 \
    --set resume="$out/checkpoints/step_40" --set out_dir="$W/cli_resumed"
}

# compute-sanitizer's memcheck over the kernels' op tests (slow: a few suites only).
memcheck() {
  local cs
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) || {
    echo "no compute-sanitizer on this machine"; return 0; }
  "$cs" --tool memcheck --error-exitcode 9 "$R/bin/test_gpu" \
    --gtest_filter='GpuPointwise.*:GpuLayerNorm.*:GpuCrossEntropy.*:GpuEmbedding.*'
}

# gtest's summary lines of a log as "passed/skipped/failed".
gtest_counts() {
  local p s f
  p=$(grep -ao '\[  PASSED  \] [0-9]* test' "$1" | tail -1 | grep -o '[0-9]*' || true)
  s=$(grep -ao '\[  SKIPPED \] [0-9]* test' "$1" | tail -1 | grep -o '[0-9]*' || true)
  f=$(grep -ao '\[  FAILED  \] [0-9]* test' "$1" | tail -1 | grep -o '[0-9]*' || true)
  [ -n "$p$s$f" ] && echo "${p:-0} passed, ${s:-0} skipped, ${f:-0} failed"
}

SUMMARY_JSON=""
record() {  # name status rc seconds detail
  local detail
  detail=$(printf '%s' "$5" | tr -cd '[:print:]' | tr '\\"' "/'")
  printf '%-24s %-8s rc=%-4s %5ss  %s\n' "$1" "$2" "$3" "$4" "$detail" >>"$W/summary.txt"
  SUMMARY_JSON+="${SUMMARY_JSON:+,}{\"step\":\"$1\",\"status\":\"$2\",\"rc\":$3,\"seconds\":$4,\"detail\":\"$detail\"}"
}

run_step() {  # name timeout command
  local name=$1 limit=$2 cmd=$3 left rc t0 status detail
  left=$((DEADLINE - $(date +%s) - 10))
  if [ "$left" -lt 20 ]; then
    record "$name" budget 0 0 "not run: the overall budget is spent"
    log "$name: not run (budget)"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  log "$name (timeout ${limit}s)"
  t0=$(date +%s)
  (cd "$W" && timeout -k 10 "$limit" bash -c "$cmd") >"$W/$name.log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=FAILED ;;
  esac
  detail=$(gtest_counts "$W/$name.log" || true)
  [ "$status" = FAILED ] && detail="$detail; $(grep -a -m3 -E 'Failure|error:|FAILED|not found|what\(\)' "$W/$name.log" | tr '\n' ' ' | cut -c1-300)"
  record "$name" "$status" "$rc" $(($(date +%s) - t0)) "$detail"
  log "$name: $status ($detail)"
}

finish() {
  trap - EXIT
  [ -d "$W" ] || return
  printf '[%s]\n' "$SUMMARY_JSON" >"$W/summary.json"
  mkdir -p "$OUT"
  cp "$W/summary.txt" "$W/summary.json" "$OUT/" 2>/dev/null
  [ -f "$W/preflight.log" ] && cp "$W/preflight.log" "$OUT/environment.txt"
  for f in bench_cuda_ops.json bench_gpt_step.json gpt_step_simulated.json train_metrics.jsonl; do
    [ -f "$W/$f" ] && cp "$W/$f" "$OUT/"
  done
  tar -C "$W" --exclude='cli_run/checkpoints' --exclude='cli_resumed/checkpoints' -czf "$OUT/logs.tar.gz" . 2>/dev/null
  echo "==== summary ($(($(date +%s) - START)) s; files in $OUT)"
  cat "$W/summary.txt"
  echo "==== failures (first lines of each failing step)"
  awk '$2 == "FAILED" || $2 == "timeout" {print $1}' "$W/summary.txt" | while read -r s; do
    echo "--- $s"; grep -a -E 'Failure|error|FAILED|Expected|Which is|actual|not found' "$W/$s.log" | head -12
  done
  grep -a -E '^(gpt_step|gemm/square|gemm/h2048|attention/)' "$W/bench_cuda_ops.log" "$W/gpt_step.log" 2>/dev/null |
    sed 's/^[^:]*://' | cut -c1-200 | head -40
  grep -a -E '^ *(step |stage|0 )' "$W/gpt_step_simulated.log" 2>/dev/null | cut -c1-200
}

# ---- main ---------------------------------------------------------------------------------------
if [ "${1:-}" = "--list" ]; then
  for s in "${STEPS[@]}"; do echo "${s%%|*}"; done
  exit 0
fi
[ -f "$BUNDLE" ] || { echo "no bundle at $BUNDLE: run bench/device/make_bundle.sh first and carry bench/device/bundle"; exit 2; }
rm -rf "$R" "$W"
mkdir -p "$R" "$W" "$OUT"
: >"$W/summary.txt"
trap finish EXIT
log "unpack $(basename "$BUNDLE") ($(stat -c %s "$BUNDLE") bytes)"
if command -v xz >/dev/null; then
  tar -C "$R" -xJf "$BUNDLE"
else  # images without xz-utils: Python's lzma
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$BUNDLE" "$R"
fi || { echo "cannot unpack $BUNDLE"; exit 1; }
setup_environment >"$W/libraries.txt"
LIBRARY_REPORT=$(cat "$W/libraries.txt")
export -f preflight cli_train memcheck find_lib_dir
export R W MPI LIBRARY_REPORT
echo "$LIBRARY_REPORT"

for s in "${STEPS[@]}"; do
  IFS='|' read -r name limit cmd <<<"$s"
  if [ $# -gt 0 ]; then
    wanted=0
    for a in "$@"; do [ "$a" = "$name" ] && wanted=1; done
    [ "$wanted" = 1 ] || continue
  fi
  run_step "$name" "$limit" "$cmd"
done
