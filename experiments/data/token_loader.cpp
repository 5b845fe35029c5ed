#include "experiments/data/token_loader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace trident {

namespace {

// Allocates `t` as i32 [count, seq_len] on the host, or checks that the caller's tensor is one.
void prepare_output(Tensor& t, const char* name, std::int64_t count, int seq_len) {
  const Shape shape{count, seq_len};
  if (!t.defined()) {
    t = Tensor::empty(shape, DType::kI32);
    return;
  }
  TRIDENT_CHECK(t.dtype() == DType::kI32 && t.shape() == shape && t.device().is_cpu(), "TokenLoader::batch: ", name,
                " is ", dtype_name(t.dtype()), " ", t.shape().str(), " on ", t.device().str(), "; it must be i32 ",
                shape.str(), " on the CPU (or undefined, to be allocated); copy it to the device afterwards");
}

}  // namespace

std::vector<std::int64_t> epoch_permutation(std::int64_t windows, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> perm(static_cast<std::size_t>(windows));
  for (std::int64_t i = 0; i < windows; ++i) perm[static_cast<std::size_t>(i)] = i;
  const std::uint64_t key = rng_key(seed, "epoch" + std::to_string(epoch));
  // Fisher–Yates from the back: position i swaps with a uniform j in [0, i], drawn as element i of
  // the epoch's stream (53-bit uniforms; the bias of floor(u·(i+1)) is < 2^-20 for i < 2^33).
  for (std::int64_t i = windows - 1; i > 0; --i) {
    auto j = static_cast<std::int64_t>(rng_uniform(key, static_cast<std::uint64_t>(i)) * static_cast<double>(i + 1));
    j = std::min(j, i);  // u < 1, but never trust rounding at the top
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

TokenLoader::TokenLoader(const TokenFile& file, int seq_len, std::uint64_t seed)
    : file_(file), seq_len_(seq_len), seed_(seed) {
  TRIDENT_CHECK(seq_len >= 1, "TokenLoader: ", file.path(), ": seq_len is ", seq_len, "; it must be >= 1");
  windows_ = (file.size() - 1) / seq_len;
  TRIDENT_CHECK(file.size() >= 1 && windows_ >= 1, "token file ", file.path(), ": file has ", file.size(),
                " tokens, fewer than seq_len+1 = ", seq_len + 1, " (one sample is seq_len+1 consecutive tokens); ",
                "use a larger token file or a smaller model.seq_len");
}

std::int64_t TokenLoader::window(std::int64_t sample) {
  TRIDENT_CHECK(sample >= 0, "TokenLoader: global sample index ", sample, " is negative");
  const std::int64_t epoch = sample / windows_;
  if (epoch != cached_epoch_) {
    perm_ = epoch_permutation(windows_, seed_, epoch);
    cached_epoch_ = epoch;
  }
  return perm_[static_cast<std::size_t>(sample % windows_)];
}

void TokenLoader::batch(std::int64_t first_sample, std::int64_t count, Tensor& ids, Tensor& targets) {
  TRIDENT_CHECK(first_sample >= 0 && count >= 0, "TokenLoader::batch: first_sample ", first_sample, " and count ",
                count, " must be >= 0");
  prepare_output(ids, "ids", count, seq_len_);
  prepare_output(targets, "targets", count, seq_len_);
  std::int32_t* id = ids.data<std::int32_t>();
  std::int32_t* target = targets.data<std::int32_t>();
  const std::span<const std::uint16_t> tokens = file_.tokens();
  for (std::int64_t i = 0; i < count; ++i) {
    // Window w holds seq_len+1 tokens from w·seq_len: ids [0, seq_len), targets [1, seq_len].
    const std::uint16_t* src = tokens.data() + window(first_sample + i) * seq_len_;
    for (int t = 0; t < seq_len_; ++t) {
      id[i * seq_len_ + t] = src[t];
      target[i * seq_len_ + t] = src[t + 1];
    }
  }
}

}  // namespace trident
