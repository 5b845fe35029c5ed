#!/usr/bin/env bash
# Class 6: a hung rank — stopped with kill -STOP, not dead — ends the job on every rank within
# TRIDENT_COMM_TIMEOUT_S plus a few seconds, with a message naming the stopped rank (the heartbeat,
# parallel/mpi/heartbeat.h) and what the others were waiting on (the MPI watchdog).
# Usage: hung_rank.sh TRIDENT_BINARY WORKDIR NP STOPPED_RANK
source "$(dirname "$0")/common.sh" "$1" "$2"
np="$3"
stopped="$4"
timeout_s=3
grace_s=7  # the watchdog's poll, MPI_Abort and the launcher ending every rank, on a loaded machine

case "$np" in
  2) layout=(--set layout.dp=1 --set layout.pp=2 --set layout.tp=1) ;;
  4) layout=(--set layout.dp=2 --set layout.pp=2 --set layout.tp=1) ;;
  *) echo "hung_rank.sh: NP must be 2 or 4"; exit 2 ;;
esac
log="$work/job.log"
TRIDENT_COMM_TIMEOUT_S=$timeout_s "${launcher[@]}" -np "$np" "$trident" train "${tiny[@]}" "${layout[@]}" \
  --set steps=100000 --set "out_dir=$work/run" > "$log" 2>&1 &
job_pid=$!

# The rank's process: a child of mpirun whose environment says its world rank.
pid=""
for _ in $(seq 600); do
  if grep -q "step    3/" "$log" 2>/dev/null; then
    for child in $(ps -o pid= --ppid "$job_pid"); do
      if tr '\0' '\n' < "/proc/$child/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$stopped"; then pid=$child; fi
    done
    break
  fi
  kill -0 "$job_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$pid" ]; then
  echo "FAIL: the job never reached step 3, or rank $stopped was not found"; cat "$log"
  kill -- "$job_pid" 2>/dev/null
  exit 1
fi

kill -STOP "$pid"
stopped_at=$(now_ms)
for _ in $(seq $(( (timeout_s + grace_s + 20) * 10 ))); do
  kill -0 "$job_pid" 2>/dev/null || break
  sleep 0.1
done
took=$(( $(now_ms) - stopped_at ))
if kill -0 "$job_pid" 2>/dev/null; then
  fail "the job still runs $(( took / 1000 )) s after rank $stopped was stopped"
  kill -KILL "$pid" 2>/dev/null
  kill -- "$job_pid" 2>/dev/null
  cat "$log"
  finish
fi
wait "$job_pid"
rc=$?
# Nothing may be left behind: the stopped rank too is gone (a zombie for a moment at most).
alive() { [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]; }
for _ in $(seq 50); do alive || break; sleep 0.1; done
if alive; then
  fail "rank $stopped (pid $pid) survived the job"
  kill -KILL "$pid" 2>/dev/null
fi
[ "$rc" -ne 0 ] || fail "the job exited 0"
[ "$took" -le $(( (timeout_s + grace_s) * 1000 )) ] || fail "the job took ${took} ms to end (limit $((timeout_s + grace_s)) s)"
grep -Eiq "no heartbeat from rank $stopped for [0-9.]+ s" "$log" || fail "no message names the stopped rank $stopped"
grep -Eq "(waiting in |CommTimeout: )(all_reduce|all_gather|reduce_scatter|barrier|send|recv|broadcast)[^;]* (of|on) " "$log" \
  || fail "no message names the collective or transfer a rank was waiting on"
if [ "$failures" -eq 0 ]; then
  echo "ok   rank $stopped of $np stopped: the job ended in ${took} ms (exit $rc):"
  grep -Ei "no heartbeat from rank $stopped" "$log" | head -2
else
  cat "$log"
fi
finish
