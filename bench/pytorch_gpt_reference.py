#!/usr/bin/python3
"""PyTorch reference for bench_gpt_step: the same GPT-2 model and training step on the CPU.

Model (as trident's layers/): tied wte, learned wpe, pre-LN blocks, fused c_attn with bias, causal
attention as explicit matmul + mask + softmax (PyTorch 1.13 has no scaled_dot_product_attention),
GELU tanh, LayerNorm eps 1e-5, no dropout, mean cross-entropy. AdamW(betas 0.9/0.95, eps 1e-8,
weight decay 0.1 on the 2-D weights only, as trident's Parameter::weight_decay()). One step is
zero_grad + forward + backward + optimizer.step(); the median step time after warm-up is reported.

Debian's PyTorch lives in the system python, not in a pyenv one that may shadow `python3`:

  apt-get install -y python3-torch libgoogle-perftools4
  /usr/bin/python3 bench/pytorch_gpt_reference.py --out build/pytorch_gpt.json
  TRIDENT_PYTORCH_JSON=build/pytorch_gpt.json build/bench/bench_gpt_step

Each (config, threads) runs in its own child process with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set before torch loads: torch.set_num_threads() alone does not reach the
OpenBLAS (libblas.so.3) that Debian's torch calls for matmuls, which would otherwise use every core.
OMP_WAIT_POLICY defaults to PASSIVE (set it to override): libgomp's spinning workers otherwise
fight OpenBLAS's own threads for the cores between ops, and on 2 cores that made PyTorch's mini
step about 1.4x slower (~1200 ms against ~850 ms), so PASSIVE is the fair, faster reference.
The child also runs with tcmalloc preloaded (Debian's libgoogle-perftools4; --malloc system to
skip it): PyTorch's CPU allocator is plain malloc, and tcmalloc's thread caches make its many
per-op allocations cheaper, so this is the tuned reference trident is held to.

--out writes {"mini": {"1": ms, "2": ms}, "small": {"2": ms}, "mini_cpu": {...}, ...}: median wall ms
per step by thread count, and under "<config>_cpu" the median process CPU ms per step (all threads).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

# name -> (layers, hidden, heads, seq_len, vocab, micro-batch); mirrors GptConfig::mini() / ::small().
CONFIGS = {
    "mini": (4, 256, 8, 256, 4096, 8),
    "small": (12, 768, 12, 1024, 50304, 1),
}


def build_model(torch, layers, hidden, heads, seq_len, vocab):
  nn, F = torch.nn, torch.nn.functional

  class Block(nn.Module):
    def __init__(self):
      super().__init__()
      self.ln_1 = nn.LayerNorm(hidden, eps=1e-5)
      self.c_attn = nn.Linear(hidden, 3 * hidden)
      self.attn_proj = nn.Linear(hidden, hidden)
      self.ln_2 = nn.LayerNorm(hidden, eps=1e-5)
      self.c_fc = nn.Linear(hidden, 4 * hidden)
      self.mlp_proj = nn.Linear(4 * hidden, hidden)
      self.register_buffer("mask", torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool)))

    def attention(self, x):
      b, s, h = x.shape
      q, k, v = self.c_attn(x).split(h, dim=2)
      q, k, v = (t.view(b, s, heads, h // heads).transpose(1, 2) for t in (q, k, v))
      att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(h // heads))
      att = F.softmax(att.masked_fill(~self.mask[:s, :s], float("-inf")), dim=-1)
      return self.attn_proj((att @ v).transpose(1, 2).reshape(b, s, h))

    def forward(self, x):
      x = x + self.attention(self.ln_1(x))
      return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

  class Gpt(nn.Module):
    def __init__(self):
      super().__init__()
      self.wte = nn.Embedding(vocab, hidden)
      self.wpe = nn.Embedding(seq_len, hidden)
      self.blocks = nn.ModuleList(Block() for _ in range(layers))
      self.ln_f = nn.LayerNorm(hidden, eps=1e-5)
      for name, p in self.named_parameters():
        if p.dim() == 2:
          nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
      x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
      for block in self.blocks:
        x = block(x)
      logits = self.ln_f(x) @ self.wte.weight.t()  # tied output embedding
      return F.cross_entropy(logits.view(-1, vocab), targets.view(-1))

  return Gpt()


def measure(config, threads, warmup, steps):
  """Runs in the child: returns the median wall ms and the median process-CPU ms of `steps` training
  steps after `warmup` steps."""
  import torch
  torch.set_num_threads(threads)
  torch.manual_seed(1234)
  layers, hidden, heads, seq_len, vocab, batch = CONFIGS[config]
  model = build_model(torch, layers, hidden, heads, seq_len, vocab)
  decay = [p for p in model.parameters() if p.dim() == 2]
  no_decay = [p for p in model.parameters() if p.dim() < 2]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
  ids = torch.randint(0, vocab, (batch, seq_len))
  targets = torch.randint(0, vocab, (batch, seq_len))
  times, cpu_times = [], []
  for i in range(warmup + steps):
    t0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    model(ids, targets).backward()
    opt.step()
    if i >= warmup:
      times.append((time.perf_counter() - t0) * 1e3)
      cpu_times.append((time.process_time() - c0) * 1e3)
  return statistics.median(times), statistics.median(cpu_times)


TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"


def run_child(config, threads, warmup, steps, malloc):
  env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
             MKL_NUM_THREADS=str(threads))
  env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
  if malloc == "tcmalloc":
    env["LD_PRELOAD"] = " ".join(p for p in (TCMALLOC, env.get("LD_PRELOAD", "")) if p)
  cmd = [sys.executable, os.path.abspath(__file__), "--child", config, str(threads), str(warmup), str(steps)]
  out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
  ms, cpu_ms = out.strip().splitlines()[-1].split()
  return float(ms), float(cpu_ms)


def main():
  if len(sys.argv) > 1 and sys.argv[1] == "--child":
    config, threads, warmup, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    print(*measure(config, threads, warmup, steps))
    return
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--out", help="write the ms-per-step JSON here")
  ap.add_argument("--configs", default="mini:1,2;small:2",
                  help="config:threads list, ';'-separated (default %(default)s; small at 1 thread is slow)")
  ap.add_argument("--steps", default="mini:10,small:3", help="timed steps per config (default %(default)s)")
  ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default %(default)s)")
  ap.add_argument("--malloc", choices=["tcmalloc", "system"], default="tcmalloc",
                  help="allocator of the PyTorch process (default %(default)s: preloads " + TCMALLOC + ")")
  args = ap.parse_args()
  if args.malloc == "tcmalloc" and not os.path.exists(TCMALLOC):
    sys.exit(f"pytorch_gpt_reference.py: {TCMALLOC} not found; apt-get install libgoogle-perftools4, "
             "or pass --malloc system")
  steps = {k: int(v) for k, v in (item.split(":") for item in args.steps.split(","))}
  results = {}
  print(f"# malloc: {args.malloc}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}")
  print(f"{'config':<8}{'threads':>8}{'ms/step':>12}{'tokens/s':>12}{'cpu ms':>12}")
  for item in args.configs.split(";"):
    config, thread_list = item.split(":")
    _, _, _, seq_len, _, batch = CONFIGS[config]
    for threads in (int(t) for t in thread_list.split(",")):
      ms, cpu_ms = run_child(config, threads, args.warmup, steps.get(config, 3), args.malloc)
      results.setdefault(config, {})[str(threads)] = round(ms, 2)
      results.setdefault(config + "_cpu", {})[str(threads)] = round(cpu_ms, 2)
      print(f"{config:<8}{threads:>8}{ms:>12.1f}{batch * seq_len / ms * 1e3:>12.0f}{cpu_ms:>12.1f}", flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump(results, f, indent=2)
      f.write("\n")


if __name__ == "__main__":
  main()
