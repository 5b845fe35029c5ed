// Deterministic, DP-disjoint, resumable sampling of training sequences from a token file.
//
// A sample is seq_len+1 consecutive tokens: ids = the first seq_len, targets = the last seq_len
// (the next token at every position). Samples come from W = (N - 1) / seq_len non-overlapping
// windows starting at multiples of seq_len (window w reads tokens [w·seq_len, w·seq_len + seq_len]).
// Each epoch visits every window once, in a seeded pseudo-random order; global sample g is
//
//   epoch e = g / W,   window = perm_e[g % W],   perm_e = Fisher–Yates driven by
//   rng_uniform(rng_key(seed, "epoch<e>"), i).
//
// The order depends on (file, seq_len, seed) only, never on the number of ranks. The trainer gives
// DP replica d of step s the global samples s·G + d·L ... s·G + d·L + L - 1 (G = dp·L, L =
// micro_batches·micro_batch_size): replicas never share a sample, every window is seen once per
// epoch over all replicas, and a resumed run continues from the step number alone.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "experiments/data/token_file.h"

namespace trident {

// The window order of one epoch: a permutation of 0..windows-1.
std::vector<std::int64_t> epoch_permutation(std::int64_t windows, std::uint64_t seed, std::int64_t epoch);

class TokenLoader {
 public:
  // Throws trident::Error naming the file when seq_len < 1 or the file has fewer than seq_len+1
  // tokens (W < 1). Keeps a copy of `file` (shared tokens), so `file` may go away.
  TokenLoader(const TokenFile& file, int seq_len, std::uint64_t seed);

  int seq_len() const { return seq_len_; }
  std::int64_t windows() const { return windows_; }  // W: samples per epoch
  const TokenFile& file() const { return file_; }
  // The largest token in the file. Tokens >= the model's vocab are the trainer's to report.
  std::uint16_t max_token() const { return file_.max_token(); }

  // The window global sample `sample` (>= 0) reads.
  std::int64_t window(std::int64_t sample);

  // Global samples first_sample ... first_sample + count - 1 as i32 host tensors [count, seq_len]:
  // ids[i] = tokens of window(first_sample + i) without its last, targets[i] = without its first.
  // An undefined tensor is allocated; a defined one must already be i32 [count, seq_len] on the CPU.
  void batch(std::int64_t first_sample, std::int64_t count, Tensor& ids, Tensor& targets);

 private:
  TokenFile file_;
  int seq_len_;
  std::uint64_t seed_;
  std::int64_t windows_ = 0;
  // The permutation of the epoch last used: batches run through an epoch in order, so one is enough.
  std::int64_t cached_epoch_ = -1;
  std::vector<std::int64_t> perm_;
};

}  // namespace trident
