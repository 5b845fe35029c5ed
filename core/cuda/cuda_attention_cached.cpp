// CudaOps attention against a KV cache (generation): checks the operands, then the kernels of
// core/cuda/attention_cached_kernels.cu (f32 or bf16, all operands of one dtype).
#include <cuda_bf16.h>

#include "core/cuda/attention_cached_kernels.h"
#include "core/cuda/cuda_op_util.h"
#include "core/error.h"

namespace trident {

void CudaOps::attention_cached(const Tensor& qkv, std::int64_t heads, std::int64_t past, const Tensor& k_cache,
                               const Tensor& v_cache, const Tensor& out) const {
  constexpr const char* op = "attention_cached";
  cuda_check_float_operand(op, "qkv", qkv, device_);
  cuda_check_float_operand(op, "k_cache", k_cache, device_);
  cuda_check_like(op, "k_cache", k_cache, "v_cache", v_cache, device_);
  cuda_check_float_operand(op, "out", out, device_);
  cuda_check_same_dtype(op, "qkv", qkv, "k_cache", k_cache);
  cuda_check_same_dtype(op, "qkv", qkv, "out", out);
  TRIDENT_CHECK(heads >= 1 && qkv.ndim() >= 2 && k_cache.ndim() == 4, op, ": qkv ", qkv.shape().str(), " k_cache ",
                k_cache.shape().str(), " should be [B, T, 3, nh, hd] and [B, nh, C, hd]");
  const std::int64_t B = qkv.dim(0), T = qkv.dim(1), C = k_cache.dim(2), hd = k_cache.dim(3);
  TRIDENT_CHECK(k_cache.dim(0) == B && k_cache.dim(1) == heads && qkv.numel() == B * T * 3 * heads * hd &&
                    out.numel() == B * T * heads * hd,
                op, ": qkv ", qkv.shape().str(), ", caches ", k_cache.shape().str(), " and out ", out.shape().str(),
                " do not agree on [B, T, nh, hd] = [", B, ", ", T, ", ", heads, ", ", hd, "]");
  TRIDENT_CHECK(past >= 0 && past + T <= C, op, ": tokens [", past, ", ", past + T, ") do not fit the cache's ", C,
                " positions");
  constexpr std::int64_t kSharedLimit = 48 * 1024;  // without opting in to more per block
  TRIDENT_CHECK(cuda_kernels::attention_cached_smem_bytes(past + T, hd) <= kSharedLimit, op, ": ", past + T,
                " keys of head dim ", hd, " need more than 48 KiB of shared memory per query; generate with a ",
                "shorter context");
  TRIDENT_CHECK(B * heads * T < (std::int64_t{1} << 31), op, ": ", B * heads * T, " queries exceed one launch");
  CudaDeviceGuard guard(device_);
  dispatch_float(qkv.dtype(), [&](auto et) {
    using E = typename decltype(et)::type;
    cuda_kernels::launch_attention_cached<E>(kernel_ptr<const E>(qkv), kernel_ptr<E>(k_cache), kernel_ptr<E>(v_cache),
                                             kernel_ptr<E>(out), B, T, heads, hd, C, past, stream());
  });
}

}  // namespace trident
