// Attention against a KV cache on the CPU (generation; see Ops::attention_cached). Per (batch b,
// head n), after the new tokens' k and v are copied into the caches:
//   for each new token t at position p = past + t:
//     s[j] = (q_t · K[j]) / √hd for j in [0, p];  w = softmax(s);  out_t = Σ_j w[j] · V[j]
// q_t is qkv[b, t, 0, n, :]; K[j] = k_cache[b, n, j, :] (rows hd apart, contiguous per head, so the
// dot products stream through memory). Work is spread over (b, n) pairs; each pair is computed the
// same way on any thread, so results do not depend on the thread count.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"

namespace trident {

void CpuOps::attention_cached(const Tensor& qkv, std::int64_t heads, std::int64_t past, const Tensor& k_cache,
                              const Tensor& v_cache, const Tensor& out) const {
  constexpr const char* op = "attention_cached";
  for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"qkv", qkv}, {"k_cache", k_cache},
                                {"v_cache", v_cache}, {"out", out}})
    cpu::check_f32(op, name, t);
  TRIDENT_CHECK(heads >= 1 && qkv.ndim() >= 2 && k_cache.ndim() == 4, op, ": qkv ", qkv.shape().str(), " k_cache ",
                k_cache.shape().str(), " should be [B, T, 3, nh, hd] and [B, nh, C, hd]");
  const std::int64_t B = qkv.dim(0), T = qkv.dim(1), nh = heads, C = k_cache.dim(2), hd = k_cache.dim(3);
  TRIDENT_CHECK(k_cache.dim(0) == B && k_cache.dim(1) == nh && qkv.numel() == B * T * 3 * nh * hd &&
                    v_cache.shape() == k_cache.shape() && out.numel() == B * T * nh * hd,
                op, ": qkv ", qkv.shape().str(), ", caches ", k_cache.shape().str(), " / ", v_cache.shape().str(),
                " and out ", out.shape().str(), " do not agree on [B, T, nh, hd] = [", B, ", ", T, ", ", nh, ", ", hd, "]");
  TRIDENT_CHECK(past >= 0 && past + T <= C, op, ": tokens [", past, ", ", past + T, ") do not fit the cache's ", C,
                " positions");
  const float* x = qkv.data<float>();
  float* kc = k_cache.data<float>();
  float* vc = v_cache.data<float>();
  float* o = out.data<float>();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const std::int64_t ld3 = 3 * nh * hd;  // qkv row stride (one token)

  cpu::parallel_for(B * nh, 1, [=](std::int64_t begin, std::int64_t end) {
    std::vector<float> w(static_cast<std::size_t>(past + T));
    for (std::int64_t bn = begin; bn < end; ++bn) {
      const std::int64_t b = bn / nh, n = bn % nh;
      float* K = kc + bn * C * hd;
      float* V = vc + bn * C * hd;
      for (std::int64_t t = 0; t < T; ++t) {  // append this head's new keys and values
        const float* row = x + (b * T + t) * ld3 + n * hd;
        std::memcpy(K + (past + t) * hd, row + nh * hd, static_cast<std::size_t>(hd) * sizeof(float));
        std::memcpy(V + (past + t) * hd, row + 2 * nh * hd, static_cast<std::size_t>(hd) * sizeof(float));
      }
      for (std::int64_t t = 0; t < T; ++t) {
        const float* q = x + (b * T + t) * ld3 + n * hd;
        const std::int64_t keys = past + t + 1;
        float max = -INFINITY;
        for (std::int64_t j = 0; j < keys; ++j) {
          float dot = 0.0f;
          for (std::int64_t e = 0; e < hd; ++e) dot += q[e] * K[j * hd + e];
          w[static_cast<std::size_t>(j)] = dot * scale;
          max = std::max(max, dot * scale);
        }
        float sum = 0.0f;
        for (std::int64_t j = 0; j < keys; ++j) sum += (w[static_cast<std::size_t>(j)] = std::exp(w[static_cast<std::size_t>(j)] - max));
        float* y = o + ((b * T + t) * nh + n) * hd;
        std::fill(y, y + hd, 0.0f);
        for (std::int64_t j = 0; j < keys; ++j) {
          const float p = w[static_cast<std::size_t>(j)] / sum;
          for (std::int64_t e = 0; e < hd; ++e) y[e] += p * V[j * hd + e];
        }
      }
    }
  });
}

}  // namespace trident
