// CudaOps vocab-parallel cross-entropy (semantics in core/ops.h; reference core/cpu/cpu_cross_entropy.cpp):
// checks operands, then dispatches on the logits dtype (f32/bf16) to the kernels of
// core/cuda/cross_entropy_kernels.cu. Statistics are f32; dlogits has the logits' dtype.
//
// Bad targets. The CPU table rejects a target outside [0, vocab) naming its row. Here the targets
// live on the GPU, so the kernels record the first bad (row, target) in a device word and the host
// reads it back:
// - cross_entropy_sums copies its word to the host and synchronises the compute stream, then
//   throws naming the row. Cost: one 16-byte device-to-host copy and a stream synchronisation per
//   call, i.e. the host waits for the forward enqueued so far. The caller (VocabParallelHead)
//   synchronises anyway a few ops later to read the loss (ops.sum), so in training this costs
//   about one extra round trip (microseconds) per micro-batch. Outputs are written before the
//   check, unlike on the CPU (which throws before writing).
// - cross_entropy_backward must not synchronise (it sits in the middle of the backward pass), so
//   its kernel records bad targets in a per-device *sticky* word that the next cross_entropy_sums
//   on the same GPU reports (and clears), naming cross_entropy_backward and the row. Such a row
//   gets the softmax gradient without the one-hot term. In a training step the same targets have
//   already passed cross_entropy_sums, so this only catches callers that skip the forward ops.
#include <cuda_bf16.h>

#include <array>
#include <climits>
#include <cstdint>
#include <mutex>

#include "core/cuda/cross_entropy_kernels.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_op_util.h"
#include "core/cross_entropy_checks.h"
#include "core/error.h"

namespace trident {

namespace {

using cuda_kernels::kNoBadTarget;

// The target-check words of one GPU: words[0] is cross_entropy_sums' (reset by each call),
// words[1] the sticky word of cross_entropy_backward. Allocated on first use and kept for the life
// of the process (16 bytes; freeing at exit would race the driver's shutdown). `mutex` serialises
// the reset-launch-read sequence of cross_entropy_sums between host threads.
struct TargetCheckWords {
  std::once_flag allocated;
  std::mutex mutex;
  unsigned long long* words = nullptr;
};

constexpr int kMaxDevices = 64;

TargetCheckWords& target_check_words(int device, cudaStream_t stream) {
  static std::array<TargetCheckWords, kMaxDevices> per_device;
  TRIDENT_CHECK(device >= 0 && device < kMaxDevices, "cross-entropy: cuda:", device, " is beyond the ", kMaxDevices,
                " GPUs trident supports per process");
  TargetCheckWords& w = per_device[static_cast<std::size_t>(device)];
  std::call_once(w.allocated, [&] {
    void* p = nullptr;
    TRIDENT_CUDA_CHECK(cudaMalloc(&p, 2 * sizeof(unsigned long long)));
    // 0xFF bytes = kNoBadTarget; on the compute stream, so every later kernel sees it.
    TRIDENT_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, 2 * sizeof(unsigned long long), stream));
    w.words = static_cast<unsigned long long*>(p);
  });
  return w;
}

struct CeDims {
  std::int64_t n;
  int vl;
  int valid;
};

// logits [.., Vl] (f32/bf16) on `device` against a shard that fits both the tensor and the
// vocabulary; returns N, Vl and the real column count.
CeDims check_logits(const char* op, int device, const Tensor& logits, const VocabShard& shard) {
  cuda_check_float_operand(op, "logits", logits, device);
  const auto [n, vl] = check_vocab_shard(op, logits, shard);
  // One block per row (gridDim.x < 2^31), and rows must fit the 32-bit row field of a bad-target word.
  TRIDENT_CHECK(vl <= INT_MAX && n <= INT_MAX, op, ": logits ", logits.shape().str(),
                " has too many rows or columns for one kernel launch (at most ", INT_MAX, " each); split the batch");
  return {n, static_cast<int>(vl), static_cast<int>(shard.valid)};
}

// A per-row f32 tensor (row_max, sum_exp, ...) on `device` with one value per row.
void check_rows(const char* op, int device, const char* name, const Tensor& t, std::int64_t n) {
  cuda_check_on_device(op, name, t, device);
  cuda_check_dtype(op, name, t, DType::kF32);
  check_one_per_row(op, name, t, n);
}

void check_targets(const char* op, int device, const Tensor& targets, std::int64_t n) {
  cuda_check_on_device(op, "targets", targets, device);
  cuda_check_dtype(op, "targets", targets, DType::kI32);
  check_one_target_per_row(op, targets, n);
}

}  // namespace

void CudaOps::cross_entropy_row_max(const Tensor& logits, const VocabShard& shard, const Tensor& row_max) const {
  const char* op = "cross_entropy_row_max";
  const CeDims d = check_logits(op, device_, logits, shard);
  check_rows(op, device_, "row_max", row_max, d.n);
  CudaDeviceGuard guard(device_);
  dispatch_float(logits.dtype(), [&](auto tt) {
    using T = typename decltype(tt)::type;
    cuda_kernels::launch_cross_entropy_row_max<T>(kernel_ptr<T>(logits), d.n, d.vl, d.valid, row_max.data<float>(),
                                                  stream());
  });
}

void CudaOps::cross_entropy_sums(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                 const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit) const {
  const char* op = "cross_entropy_sums";
  const CeDims d = check_logits(op, device_, logits, shard);
  check_rows(op, device_, "row_max", row_max, d.n);
  check_rows(op, device_, "sum_exp", sum_exp, d.n);
  check_rows(op, device_, "target_logit", target_logit, d.n);
  check_targets(op, device_, targets, d.n);
  CudaDeviceGuard guard(device_);
  TargetCheckWords& check = target_check_words(device_, stream());
  std::lock_guard<std::mutex> lock(check.mutex);
  TRIDENT_CUDA_CHECK(cudaMemsetAsync(check.words, 0xFF, sizeof(unsigned long long), stream()));
  dispatch_float(logits.dtype(), [&](auto tt) {
    using T = typename decltype(tt)::type;
    cuda_kernels::launch_cross_entropy_sums<T>(kernel_ptr<T>(logits), targets.data<std::int32_t>(), d.n, d.vl,
                                               shard.begin, d.valid, shard.vocab, row_max.data<float>(),
                                               sum_exp.data<float>(), target_logit.data<float>(), check.words,
                                               stream());
  });
  unsigned long long found[2] = {kNoBadTarget, kNoBadTarget};
  TRIDENT_CUDA_CHECK(cudaMemcpyAsync(found, check.words, sizeof found, cudaMemcpyDeviceToHost, stream()));
  stream_synchronize(stream());
  if (found[1] != kNoBadTarget) {
    TRIDENT_CUDA_CHECK(cudaMemsetAsync(check.words + 1, 0xFF, sizeof(unsigned long long), stream()));
    TRIDENT_FAIL("cross_entropy_backward (an earlier call on cuda:", device_, ", reported by the next ", op,
                 "): target ", cuda_kernels::bad_target_value(found[1]), " of row ",
                 cuda_kernels::bad_target_row(found[1]), " is outside the vocabulary");
  }
  TRIDENT_CHECK(found[0] == kNoBadTarget, op, ": target ", cuda_kernels::bad_target_value(found[0]), " of row ",
                cuda_kernels::bad_target_row(found[0]), " is outside the vocabulary [0, ", shard.vocab, ")");
}

void CudaOps::cross_entropy_losses(const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit,
                                   const Tensor& losses) const {
  const char* op = "cross_entropy_losses";
  cuda_check_on_device(op, "row_max", row_max, device_);
  cuda_check_dtype(op, "row_max", row_max, DType::kF32);
  const std::int64_t n = row_max.numel();
  check_rows(op, device_, "sum_exp", sum_exp, n);
  check_rows(op, device_, "target_logit", target_logit, n);
  check_rows(op, device_, "losses", losses, n);
  CudaDeviceGuard guard(device_);
  cuda_kernels::launch_cross_entropy_losses(row_max.data<float>(), sum_exp.data<float>(), target_logit.data<float>(),
                                            n, losses.data<float>(), stream());
}

void CudaOps::cross_entropy_backward(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                     const Tensor& row_max, const Tensor& sum_exp, float dloss,
                                     const Tensor& dlogits) const {
  const char* op = "cross_entropy_backward";
  const CeDims d = check_logits(op, device_, logits, shard);
  check_rows(op, device_, "row_max", row_max, d.n);
  check_rows(op, device_, "sum_exp", sum_exp, d.n);
  check_targets(op, device_, targets, d.n);
  cuda_check_like(op, "logits", logits, "dlogits", dlogits, device_);
  CudaDeviceGuard guard(device_);
  // No lock: the kernel only atomicMin's into the sticky word, stream-ordered with the readers.
  TargetCheckWords& check = target_check_words(device_, stream());
  dispatch_float(logits.dtype(), [&](auto tt) {
    using T = typename decltype(tt)::type;
    cuda_kernels::launch_cross_entropy_backward<T>(kernel_ptr<T>(logits), targets.data<std::int32_t>(), d.n, d.vl,
                                                   shard.begin, d.valid, shard.vocab, row_max.data<float>(),
                                                   sum_exp.data<float>(), dloss, kernel_ptr<T>(dlogits),
                                                   check.words + 1, stream());
  });
}

}  // namespace trident
