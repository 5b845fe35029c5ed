// GPU throughput of the CUDA op table's two heavy ops on GPT-2 shapes, as a fraction of the GPU's
// dense bf16 peak (core/cuda/cuda_device_peak.h):
// - cuBLASLt GEMMs of every linear layer for h = 768 (GPT-2 small) and h = 2048 (GPT-2 1.3B) with
//   T = 8 x 1024 tokens: QKV [T,h]x[h,3h], attention projection [T,h]x[h,h], MLP fc [T,h]x[h,4h],
//   MLP projection [T,4h]x[4h,h] and the LM head [T,h]x[h,V=50304], each in its forward form
//   y = x·W, its input-gradient form dx = dy·Wᵀ and its weight-gradient form dW += xᵀ·dy (bf16
//   operands; the weight gradient accumulates into f32, as in training).
// - The same three cuBLASLt calls on an 8192 x 8192 x 8192 product (gemm/square8192/*), run first:
//   what this library reaches on this GPU at a size where nothing but the tensor cores limits it.
//   Every model-shape GEMM reports of_square = its TFLOP/s / the square product's, same form, same
//   run (1.0: the shape costs nothing over the library's best).
// - cuDNN fused causal attention forward and backward for S = 1024 and 2048 (B·S = 8192 tokens),
//   hd = 64 (12 heads, GPT-2 small) and hd = 128 (16 heads, GPT-2 1.3B), counting 4·B·nh·S²·hd
//   FLOP forward and 2.5x that backward (the causal half is not subtracted, as FlashAttention's
//   benchmarks count it).
// Times are CUDA events around a few back-to-back calls on the compute stream (UseManualTime), so
// they measure the GPU, not host launch overhead. Operands hold uniform random values (constant or
// zero operands toggle fewer bits, draw less power and flatter the rate). Without a usable GPU
// every benchmark is skipped.
//
//   build/bench/bench_cuda_ops
//   build/bench/bench_cuda_ops --benchmark_filter='gemm/h2048'
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/benchmark_main.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/cuda/cuda_device_peak.h"
#include "core/cuda_probe.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace trident {
namespace {

constexpr std::int64_t kTokens = 8 * 1024;
constexpr std::int64_t kVocab = 50304;
constexpr int kRepsPerIteration = 5;  // calls between a pair of events

Device gpu() { return Device::cuda(0); }

// Skips the benchmark (returning false) when no GPU can be used.
bool require_gpu(benchmark::State& state) {
  const CudaProbe& p = cuda_probe();
  if (p.available) return true;
  const std::string why = p.built_with_cuda ? p.reason : std::string("CPU-only build");
  state.SkipWithError(why.c_str());
  return false;
}

// Uniform values in [-1, 1) on the GPU: one host block of up to 2^20 elements, tiled over the
// tensor by device-to-device copies (so even the 400 MB LM-head operands fill in milliseconds).
void fill_random(const Tensor& t, std::uint32_t seed) {
  const std::int64_t n = t.numel(), block = std::min<std::int64_t>(n, std::int64_t{1} << 20);
  if (n == 0) return;
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const Tensor host = Tensor::empty({block});
  for (std::int64_t i = 0; i < block; ++i) host.data<float>()[i] = dist(gen);
  Tensor typed = host;
  if (t.dtype() != DType::kF32) {
    typed = Tensor::empty({block}, t.dtype());
    ops_for(Device::cpu()).convert(host, typed);
  }
  const Tensor flat = t.view({n});
  flat.slice0(0, block).copy_from(typed);
  for (std::int64_t have = block; have < n;) {
    const std::int64_t len = std::min(have, n - have);
    flat.slice0(have, have + len).copy_from(flat.slice0(0, len));
    have += len;
  }
}

// GPU time of `reps` back-to-back calls of f on the compute stream, per call.
class StreamTimer {
 public:
  StreamTimer() {
    TRIDENT_CUDA_CHECK(cudaEventCreate(&start_));
    TRIDENT_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~StreamTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;

  template <typename F>
  double seconds_per_call(cudaStream_t stream, int reps, F&& f) {
    TRIDENT_CUDA_CHECK(cudaEventRecord(start_, stream));
    for (int i = 0; i < reps; ++i) f();
    TRIDENT_CUDA_CHECK(cudaEventRecord(stop_, stream));
    TRIDENT_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    TRIDENT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return static_cast<double>(ms) * 1e-3 / reps;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Runs the timed loop and sets TFLOP/s and the fraction of the bf16 dense peak (left out for a GPU
// whose peak cuda_peak_tflops does not know). Returns the TFLOP/s (0 when nothing ran).
template <typename F>
double time_op(benchmark::State& state, double flops_per_call, F&& f) {
  const cudaStream_t stream = CudaContext::get(0).compute_stream();
  f();  // warm-up: builds the cuBLASLt / cuDNN plan
  stream_synchronize(stream);
  StreamTimer timer;
  double total = 0;
  std::int64_t calls = 0;
  for (auto _ : state) {
    const double s = timer.seconds_per_call(stream, kRepsPerIteration, f);
    state.SetIterationTime(s);
    total += s;
    ++calls;
  }
  if (calls == 0) return 0.0;
  const double tflops = flops_per_call * static_cast<double>(calls) / total * 1e-12;
  state.counters["TFLOP/s"] = tflops;
  try {
    state.counters["of_peak"] = tflops / cuda_peak_tflops(0, DType::kBF16);
  } catch (const Error&) {
  }
  return tflops;
}

// ---- GEMMs ------------------------------------------------------------------------------------

enum class Linear { kQkv, kProj, kFc, kFcProj, kLmHead, kSquare };
enum class Form { kForward, kBackwardInput, kBackwardWeight };

struct LinearShape {
  const char* name;
  std::int64_t in, out;  // W is [in, out] (GPT-2 Conv1D layout)
};

LinearShape linear_shape(Linear l, std::int64_t h) {
  switch (l) {
    case Linear::kQkv: return {"qkv", h, 3 * h};
    case Linear::kProj: return {"proj", h, h};
    case Linear::kFc: return {"fc", h, 4 * h};
    case Linear::kFcProj: return {"fc_proj", 4 * h, h};
    case Linear::kLmHead: return {"lm_head", h, kVocab};
    case Linear::kSquare: return {"square8192", kTokens, kTokens};  // T = in = out = 8192
  }
  return {"?", 0, 0};
}

const char* form_name(Form f) {
  switch (f) {
    case Form::kForward: return "fwd";
    case Form::kBackwardInput: return "bwd_input";
    case Form::kBackwardWeight: return "bwd_weight";
  }
  return "?";
}

// TFLOP/s of gemm/square8192/<form> in this run, per Form (0 until it ran).
std::array<double, 3> g_square_tflops{};

void BM_gemm(benchmark::State& state, std::int64_t h, Linear layer, Form form) {
  if (!require_gpu(state)) return;
  const LinearShape s = linear_shape(layer, h);
  const Ops& ops = ops_for(gpu());
  const Tensor x = Tensor::empty({kTokens, s.in}, DType::kBF16, gpu());
  const Tensor w = Tensor::empty({s.in, s.out}, DType::kBF16, gpu());
  const Tensor y = Tensor::empty({kTokens, s.out}, DType::kBF16, gpu());
  fill_random(x, 1);
  fill_random(w, 2);
  fill_random(y, 3);
  Tensor dw;
  if (form == Form::kBackwardWeight) {
    dw = Tensor::empty({s.in, s.out}, DType::kF32, gpu());
    ops.fill(dw, 0.0f);
  }
  const double flops = 2.0 * static_cast<double>(kTokens) * static_cast<double>(s.in) * static_cast<double>(s.out);
  const double tflops = time_op(state, flops, [&] {
    switch (form) {
      case Form::kForward: ops.gemm(false, false, 1.0f, x, w, 0.0f, y); break;         // y = x·W
      case Form::kBackwardInput: ops.gemm(false, true, 1.0f, y, w, 0.0f, x); break;    // dx = dy·Wᵀ
      case Form::kBackwardWeight: ops.gemm(true, false, 1.0f, x, y, 1.0f, dw); break;  // dW += xᵀ·dy
    }
  });
  double& square = g_square_tflops[static_cast<std::size_t>(form)];
  if (layer == Linear::kSquare) square = std::max(square, tflops);
  else if (square > 0 && tflops > 0) state.counters["of_square"] = tflops / square;
}

// ---- attention --------------------------------------------------------------------------------

void BM_attention(benchmark::State& state, std::int64_t seq, std::int64_t head_dim, bool backward) {
  if (!require_gpu(state)) return;
  const std::int64_t heads = head_dim == 64 ? 12 : 16;
  const std::int64_t batch = kTokens / seq;
  const Ops& ops = ops_for(gpu());
  const Tensor qkv = Tensor::empty({batch, seq, 3, heads, head_dim}, DType::kBF16, gpu());
  const Tensor out = Tensor::empty({batch, seq, heads, head_dim}, DType::kBF16, gpu());
  const Tensor saved = Tensor::empty(ops.attention_saved_shape(batch, heads, seq), DType::kF32, gpu());
  fill_random(qkv, 4);
  ops.attention_forward(qkv, heads, out, saved);
  const double fwd_flops = 4.0 * static_cast<double>(batch * heads) * static_cast<double>(seq) *
                           static_cast<double>(seq) * static_cast<double>(head_dim);
  if (!backward) {
    time_op(state, fwd_flops, [&] { ops.attention_forward(qkv, heads, out, saved); });
    return;
  }
  const Tensor dout = Tensor::empty({batch, seq, heads, head_dim}, DType::kBF16, gpu());
  const Tensor dqkv = Tensor::empty({batch, seq, 3, heads, head_dim}, DType::kBF16, gpu());
  fill_random(dout, 5);
  time_op(state, 2.5 * fwd_flops, [&] { ops.attention_backward(dout, qkv, out, saved, heads, dqkv); });
}

void register_all() {
  for (Form f : {Form::kForward, Form::kBackwardInput, Form::kBackwardWeight}) {
    const std::string name = std::string("gemm/square8192/") + form_name(f);
    benchmark::RegisterBenchmark(name.c_str(), [f](benchmark::State& s) { BM_gemm(s, 0, Linear::kSquare, f); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (std::int64_t h : {768, 2048})
    for (Linear l : {Linear::kQkv, Linear::kProj, Linear::kFc, Linear::kFcProj, Linear::kLmHead})
      for (Form f : {Form::kForward, Form::kBackwardInput, Form::kBackwardWeight}) {
        const std::string name = "gemm/h" + std::to_string(h) + "/" + linear_shape(l, h).name + "/" + form_name(f);
        benchmark::RegisterBenchmark(name.c_str(), [h, l, f](benchmark::State& s) { BM_gemm(s, h, l, f); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
  for (std::int64_t seq : {1024, 2048})
    for (std::int64_t hd : {64, 128})
      for (bool backward : {false, true}) {
        const std::string name = "attention/S" + std::to_string(seq) + "/hd" + std::to_string(hd) + "/" +
                                 (backward ? "bwd" : "fwd");
        benchmark::RegisterBenchmark(name.c_str(),
                                     [seq, hd, backward](benchmark::State& s) { BM_attention(s, seq, hd, backward); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) { return trident::bench::run_benchmarks(argc, argv, trident::register_all); }
