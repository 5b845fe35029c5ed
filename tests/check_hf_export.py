#!/usr/bin/python3
"""Checks a Hugging Face GPT-2 folder written by `trident export` against PyTorch.

Reads <dir>/config.json and <dir>/model.safetensors (with the `safetensors` package when it is
importable, else with the format's few lines below: an 8-byte header length, a JSON header, raw
little-endian tensors), builds GPT-2's forward in plain PyTorch from them (Conv1D weights [in, out],
tied lm_head, GELU tanh, pre-LN blocks), and compares its logits for every position of the token
ids in <expected> (a safetensors file with "ids" i32 [B, S] and "logits" f32 [B, S, V], trident's
logits for the same ids) to 1e-5 absolute + relative.

Exit status: 0 match, 1 mismatch (the worst element is printed), 77 PyTorch is not importable
(the caller reports the check as skipped). Debian's PyTorch lives in the system python:
  apt-get install python3-torch;  /usr/bin/python3 tests/check_hf_export.py DIR EXPECTED
"""
import json
import math
import struct
import sys

try:
  import torch
except ImportError:
  print("PyTorch is not importable (apt-get install python3-torch)")
  sys.exit(77)

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "I32": torch.int32}


def load_safetensors(path):
  try:
    from safetensors.torch import load_file
    return load_file(path), "safetensors"
  except ImportError:
    with open(path, "rb") as f:
      data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
      if name == "__metadata__":
        continue
      begin, end = t["data_offsets"]
      buf = bytearray(data[base + begin:base + end])
      out[name] = torch.frombuffer(buf, dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).clone()
    return out, "the format's own reader (no safetensors package)"


def gpt2_logits(w, cfg, ids):
  F = torch.nn.functional
  p = "transformer." if "transformer.wte.weight" in w else ""
  h, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
  b, s = ids.shape
  x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:s]
  mask = torch.tril(torch.ones(s, s, dtype=torch.bool))
  for i in range(cfg["n_layer"]):
    g = lambda k: w[f"{p}h.{i}.{k}"]
    a = F.layer_norm(x, (h,), g("ln_1.weight"), g("ln_1.bias"), eps)
    q, k, v = (a @ g("attn.c_attn.weight") + g("attn.c_attn.bias")).split(h, dim=2)
    q, k, v = (t.view(b, s, nh, h // nh).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) / math.sqrt(h // nh)
    att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
    y = (att @ v).transpose(1, 2).reshape(b, s, h)
    x = x + y @ g("attn.c_proj.weight") + g("attn.c_proj.bias")
    m = F.layer_norm(x, (h,), g("ln_2.weight"), g("ln_2.bias"), eps)
    m = F.gelu(m @ g("mlp.c_fc.weight") + g("mlp.c_fc.bias"), approximate="tanh")
    x = x + m @ g("mlp.c_proj.weight") + g("mlp.c_proj.bias")
  x = F.layer_norm(x, (h,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
  return x @ w[p + "wte.weight"].t()


def main():
  folder, expected_path = sys.argv[1], sys.argv[2]
  with open(f"{folder}/config.json") as f:
    cfg = json.load(f)
  assert cfg["model_type"] == "gpt2" and cfg["tie_word_embeddings"], "not a tied GPT-2 config"
  weights, reader = load_safetensors(f"{folder}/model.safetensors")
  weights = {k: v.float() for k, v in weights.items()}
  expected, _ = load_safetensors(expected_path)
  ids = expected["ids"].long()
  with torch.no_grad():
    got = gpt2_logits(weights, cfg, ids)
  want = expected["logits"]
  err = (got - want).abs() / (1e-5 + 1e-5 * want.abs())
  worst = int(err.argmax())
  print(f"read with {reader}; logits {list(got.shape)}; max |torch - trident| = {float((got - want).abs().max()):.3g}")
  if float(err.max()) > 1.0:
    print(f"MISMATCH at flat index {worst}: torch {float(got.flatten()[worst])} vs trident {float(want.flatten()[worst])}")
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
