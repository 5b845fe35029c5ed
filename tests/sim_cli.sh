#!/usr/bin/env bash
# `trident simulate` and `trident search` as scripts call them (the interface contract of
# experiments/cli/simulate_command.cpp): a GPU plan in bf16 simulated on a CPU-only build writes the
# contract's JSON keys; the search writes every candidate to CSV; bad clusters, impossible layouts and
# plans that can never fit exit 2 naming the field or the knob. No MPI, no device, a few seconds.
# Usage: sim_cli.sh TRIDENT WORKDIR
set -uo pipefail
trident="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL $*"; exit 1; }
gpu=(--set model.preset=mini --set layout.dp=2 --set layout.pp=2 --set layout.tp=2 --set layout.micro_batches=4
     --set device=cuda --set precision=bf16)

for cluster in a100 h100 h200; do
  timeout 60 "$trident" simulate "${gpu[@]}" --cluster "$cluster" --json "$work/$cluster.json" --trace "$work/$cluster.trace.json" \
    > "$work/$cluster.log" 2>&1 || { cat "$work/$cluster.log"; fail "simulate on $cluster"; }
done
timeout 60 "$trident" simulate "${gpu[@]}" --set device=cpu --set precision=f32 --cluster cpu --json "$work/cpu.json" \
  > "$work/cpu.log" 2>&1 || { cat "$work/cpu.log"; fail "simulate on cpu"; }
python3 - "$work" <<'EOF' || fail "the simulate JSON breaks the contract"
import json, sys
work = sys.argv[1]
for cluster in ("a100", "h100", "h200", "cpu"):
    r = json.load(open(f"{work}/{cluster}.json"))
    for key in ("step_time_s", "tokens_per_s", "model_tflops_per_device", "mfu", "bubble_frac"):
        assert isinstance(r[key], (int, float)) and r[key] >= 0, (cluster, key, r.get(key))
    assert r["step_time_s"] > 0 and 0 < r["mfu"] < 1, (cluster, r["step_time_s"], r["mfu"])
    assert r["world_size"] == 8, r["world_size"]
    assert len(r["stages"]) == 2 and all(s["peak_memory_bytes"] > 0 for s in r["stages"]), r["stages"]
    if cluster == "cpu":
        continue
    trace = json.load(open(f"{work}/{cluster}.trace.json"))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    assert any(e.get("name", "").startswith("F") for e in events), "no forward in the trace"
# A faster machine is faster: the same plan on H100 beats A100.
assert json.load(open(f"{work}/h100.json"))["step_time_s"] < json.load(open(f"{work}/a100.json"))["step_time_s"]
EOF
echo "ok   simulate: contract keys on a100, h100, h200 (a bf16 cuda plan on a CPU build) and cpu; h100 faster than a100"

timeout 120 "$trident" search --set model.preset=mini --set device=cuda --set precision=bf16 --gpus 4 \
  --global-batch 8 --cluster h100 --csv "$work/search.csv" --top 3 > "$work/search.log" 2>&1 \
  || { cat "$work/search.log"; fail "search"; }
rows=$(($(wc -l < "$work/search.csv") - 1))
[ "$rows" -gt 100 ] || fail "search wrote $rows candidates"
head -1 "$work/search.csv" | grep -q "^rank,tp,pp,dp,v,schedule" || fail "search CSV header: $(head -1 "$work/search.csv")"
[ "$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ ' "$work/search.log")" -eq 3 ] || { cat "$work/search.log"; fail "search --top 3"; }
echo "ok   search: $rows candidates in the CSV, top 3 printed"

source "$(dirname "$0")/expect_usage.sh"
python3 -c "
import json; d = json.load(open('$(dirname "$0")/../experiments/sim/clusters/a100.json'))
d['network']['intra_node']['bandwidth'] = -1; json.dump(d, open('$work/bad.json', 'w'))"
expect_usage "bad cluster field" "/network/intra_node/bandwidth is -1" simulate "${gpu[@]}" --cluster "$work/bad.json"
expect_usage "unknown cluster" "neither a shipped cluster" simulate "${gpu[@]}" --cluster nosuch
expect_usage "heads % tp" "model.heads" simulate "${gpu[@]}" --set layout.tp=3 --cluster a100
expect_usage "never fits" "does not fit .*optimizer state" simulate --set model.preset=sp22-1t --set layout.dp=1 \
  --set layout.pp=1 --set layout.tp=1 --set layout.micro_batches=1 --set device=cuda --cluster a100
expect_usage "search: nothing fits" "no layout fits" search --set model.preset=sp22-1t --set device=cuda --gpus 1 \
  --global-batch 1 --cluster a100
[ "$failures" -eq 0 ] || exit 1
