// CUDA attention against a KV cache (generation) against the CPU table: a prefill of several
// tokens at position 0 and then single tokens appended at later positions, f32 and bf16, head dims
// 16 and 64; the caches' new rows must hold the new keys and values, the rows before `past` stay.
// Tolerances: f32 1e-5 (the same sums in another order); bf16 2e-2 (inputs bf16-exact, the output
// rounded to bf16 once: 2^-8 relative, plus the f32 accumulation).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/ops.h"
#include "core/tensor.h"
#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using namespace gpu_test;

TEST(GpuAttentionCached, PrefillThenDecodeMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t b = 2, nh = 3, cap = 20;
  std::uint32_t seed = 1;
  for (std::int64_t hd : {16, 64})
    for (DType dt : kFloatDtypes) {
      const bool bf16 = dt == DType::kBF16;
      const double atol = bf16 ? 2e-2 : 1e-5, rtol = bf16 ? 2e-2 : 1e-5;
      Tensor k = Tensor::zeros({b, nh, cap, hd}), v = Tensor::zeros({b, nh, cap, hd});
      const Tensor gk = gpu_zeros({b, nh, cap, hd}, dt), gv = gpu_zeros({b, nh, cap, hd}, dt);
      std::int64_t past = 0;
      for (std::int64_t tokens : {7, 1, 1, 4}) {  // prefill, two decode steps, a chunk of four
        const std::string what = "hd=" + std::to_string(hd) + " " + std::string(dtype_name(dt)) +
                                 " past=" + std::to_string(past) + " tokens=" + std::to_string(tokens);
        const Tensor qkv = random_host({b, tokens, 3, nh, hd}, ++seed, -1.0f, 1.0f, bf16);
        Tensor out = Tensor::empty({b, tokens, nh, hd});
        cpu_ops().attention_cached(qkv, nh, past, k, v, out);
        const Tensor g_out = gpu_empty({b, tokens, nh, hd}, dt);
        gpu_ops().attention_cached(to_gpu(qkv, dt), nh, past, gk, gv, g_out);
        expect_close(g_out, out, atol, rtol, "out " + what);
        expect_close(gk, k, 0, 0, "k_cache " + what);  // copies: exact
        expect_close(gv, v, 0, 0, "v_cache " + what);
        past += tokens;
      }
    }
}

TEST(GpuAttentionCached, RefusesWhatDoesNotFit) {
  TRIDENT_REQUIRE_GPU();
  const Tensor qkv = gpu_zeros({1, 3, 3, 2, 4}), k = gpu_zeros({1, 2, 4, 4}), v = gpu_zeros({1, 2, 4, 4});
  const Tensor out = gpu_zeros({1, 3, 2, 4});
  EXPECT_NO_THROW(gpu_ops().attention_cached(qkv, 2, 1, k, v, out));
  EXPECT_THROW(gpu_ops().attention_cached(qkv, 2, 2, k, v, out), Error);                       // past the cache
  EXPECT_THROW(gpu_ops().attention_cached(qkv, 2, 0, k, gpu_zeros({1, 2, 4, 4}, DType::kBF16), out), Error);  // dtypes
}

}  // namespace
}  // namespace trident
