#!/usr/bin/env bash
# launch.sh N PROGRAM [ARGS...]: mpirun on this machine with N ranks, oversubscribed when N exceeds
# the cores, one OpenBLAS thread per rank unless OPENBLAS_NUM_THREADS is set. Allows running as
# root (containers, CI). Quiet (-q): trident's own one-line errors, without Open MPI's banner about
# non-zero exit codes after them. For several nodes, call mpirun directly (see README.md).
set -euo pipefail
n="$1"; shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores="$(nproc)"
threads="${OPENBLAS_NUM_THREADS:-$(( n >= cores ? 1 : cores / n ))}"
exec mpirun -q -np "$n" --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS="$threads" "$@"
