// The GPT-2 model family trident trains: sizes, initialisation constants, and the closed forms
// (parameter count, FLOPs per step) that experiments report and tests check.
#pragma once

#include <cstdint>
#include <string>

namespace trident {

struct GptConfig {
  std::int64_t layers = 4;     // L
  std::int64_t hidden = 256;   // h
  std::int64_t heads = 8;      // nh
  std::int64_t seq_len = 256;  // S (also the size of the learned position table)
  std::int64_t vocab = 4096;   // V (real vocabulary; TP pads the embedding to a multiple of tp)
  float ln_eps = 1e-5f;
  float init_std = 0.02f;  // N(0, 0.02) for weights and embeddings; 0.02/sqrt(2L) for residual projections
  std::uint64_t seed = 1234;

  // L4 h256 nh8 S256 V4096: the size tests and CPU benchmarks use.
  static GptConfig mini();
  // GPT-2 124M shape: L12 h768 nh12 S1024 V50304 (50257 padded to a multiple of 64, as nanoGPT does).
  static GptConfig small();
  // Throws trident::Error naming the field: sizes >= 1, hidden divisible by heads.
  void validate() const;

  std::int64_t head_dim() const { return hidden / heads; }

  // Parameters of the full model (tied embedding counted once, no padding):
  //   V·h + S·h + L·(12h² + 13h) + 2h
  std::int64_t parameter_count() const;

  // Model FLOPs of one forward+backward over `batch` sequences of seq_len tokens, Megatron's form
  // (Narayanan et al. 2021): 72·B·s·L·h²·(1 + s/(6h) + V/(12hL)). Matmuls only, backward = 2×
  // forward, causal attention counted in full (not halved) as MFU conventions do; no recompute.
  double flops_per_step(std::int64_t batch) const;
};

}  // namespace trident
