#!/usr/bin/python3
"""PyTorch DDP (gloo) peer for bench_data_parallel: weak scaling 1 -> 2 processes on the same shapes.

The model is bench/pytorch_gpt_reference.py's GPT-2 (the same as trident's layers). Per process and
step: `micro_batches` forward/backward passes of `micro_batch` sequences (DDP's no_sync on all but the
last, so the gradients are all-reduced once per step, as trident's buckets are), then AdamW. dp:1 is
one process without DDP; dp:2 is two processes with DistributedDataParallel over gloo (default 25 MiB
buckets, gradient all-reduce overlapped with the backward). Every process runs one thread
(OMP/OpenBLAS/MKL_NUM_THREADS=1, set before torch loads), as trident's ranks do in the benchmark.

  /usr/bin/python3 bench/pytorch_ddp_peer.py [--steps 20] [--out build/ddp_peer.json]

Prints per config the median step time of dp:1 and dp:2 (the slowest process's, each step) and the
efficiency dp1/dp2; --out writes them as JSON. Debian's python3-torch lives in the system python.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

# name -> (layers, hidden, heads, seq_len, vocab, micro_batches, micro_batch): bench_data_parallel's.
CONFIGS = {
    "mini": (4, 256, 8, 256, 4096, 2, 2),
    "comm": (4, 256, 8, 64, 4096, 1, 2),
}


def child(config, world, rank, port, warmup, steps):
  import torch
  import torch.distributed as dist
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  from pytorch_gpt_reference import build_model

  torch.set_num_threads(1)
  torch.manual_seed(1234)
  layers, hidden, heads, seq_len, vocab, micro_batches, batch = CONFIGS[config]
  model = build_model(torch, layers, hidden, heads, seq_len, vocab)
  if world > 1:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=world, rank=rank)
    model = torch.nn.parallel.DistributedDataParallel(model)
  decay = [p for p in model.parameters() if p.dim() == 2]
  no_decay = [p for p in model.parameters() if p.dim() < 2]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
  ids = torch.randint(0, vocab, (batch, seq_len))
  targets = torch.randint(0, vocab, (batch, seq_len))
  times = []
  for i in range(warmup + steps):
    if world > 1:
      dist.barrier()  # steps start together, as trident's do
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    for mb in range(micro_batches):
      if world > 1 and mb < micro_batches - 1:
        with model.no_sync():
          model(ids, targets).backward()
      else:
        model(ids, targets).backward()
    opt.step()
    t = time.perf_counter() - t0
    if world > 1:
      slowest = torch.tensor([t], dtype=torch.float64)
      dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
      t = slowest.item()
    if i >= warmup:
      times.append(t * 1e3)
  if rank == 0:
    print(statistics.median(times))
  if world > 1:
    dist.destroy_process_group()


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run(config, world, warmup, steps):
  env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
  env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
  port = str(free_port())
  procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", config, str(world), str(r), port,
                             str(warmup), str(steps)], env=env, stdout=subprocess.PIPE, text=True)
           for r in range(world)]
  outs = [p.communicate()[0] for p in procs]
  if any(p.returncode != 0 for p in procs):
    sys.exit(f"pytorch_ddp_peer.py: a {config} dp:{world} process failed")
  return float(outs[0].strip().splitlines()[-1])


def main():
  if len(sys.argv) > 1 and sys.argv[1] == "--child":
    child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
    return
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--configs", default="mini,comm")
  ap.add_argument("--steps", type=int, default=20, help="timed steps (default %(default)s)")
  ap.add_argument("--warmup", type=int, default=2)
  ap.add_argument("--out", help="write the results as JSON here")
  args = ap.parse_args()
  results = {}
  print(f"{'config':<8}{'dp:1 ms':>10}{'dp:2 ms':>10}{'efficiency':>12}")
  for config in args.configs.split(","):
    one = run(config, 1, args.warmup, args.steps)
    two = run(config, 2, args.warmup, args.steps)
    results[config] = {"dp1_ms": round(one, 2), "dp2_ms": round(two, 2), "efficiency": round(one / two, 3)}
    print(f"{config:<8}{one:>10.1f}{two:>10.1f}{one / two:>12.3f}", flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump(results, f, indent=2)
      f.write("\n")


if __name__ == "__main__":
  main()
