// One single-rank training step of the GPT (zero_grads + forward + backward + AdamW over every
// parameter) for `mini` (L4 h256 nh8 S256 V4096, micro-batch 8) and `small` (GPT-2 124M shape,
// micro-batch 1), at 1 and 2 OpenBLAS threads, on the CPU table in f32; and for a GPT of 1.3B
// parameters (L24 h2048 nh16 S1024 V50304, micro-batch 8) on GPU 0 in bf16 mixed precision
// (skipped with the probe's reason when there is no GPU). Counters, per step:
//
//   tokens/s, GFLOP/s      rates (mean over the timed steps); GFLOP/s counts GptConfig::flops_per_step
//   step_ms                the median step; zero/fwd/bwd/opt_ms the phases' medians (steady_clock)
//   gemm_ms                the step's linear GEMMs alone (GEMM-only baseline, same run, same threads):
//                          per block c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, and the tied logits,
//                          each forward, dX and dW, through ops_for(cpu).gemm on per-layer buffers.
//                          The attention core's per-head GEMMs are not in it (see attn_ms). One pass
//                          follows every timed step, so noise on a shared machine hits both alike
//   attn_ms                the attention core op alone (attention_forward + attention_backward, × L): the
//                          fused flash-style kernel (CPU) or cuDNN SDPA (GPU), as the model calls it
//   vs_gemm_only           median step / median GEMM pass; vs_gemm_only_min the fastest step over the
//                          fastest pass; fwd_vs_gemm, bwd_vs_gemm: the phases over their GEMM share
//   vs_gemm_attn           step / (gemm + attn): what everything else (LayerNorm, GELU, adds,
//                          embedding, cross-entropy, AdamW, allocation) costs on top
//   vs_pytorch             PyTorch's median step over ours, same model, threads and machine (> 1: faster)
//   cpu_ms, cpu_vs_gemm_only, cpu_vs_pytorch
//                          (CPU) the same in process CPU time instead of wall time: on a shared, loaded
//                          machine time-slicing inflates wall times unevenly, CPU time much less (at
//                          1 thread; with 2, OpenBLAS's spinning workers add CPU time on both sides)
//   mfu                    (GPU) model FLOP/s over the device's dense bf16 peak (gpu_peak_flops)
//   peak_GB                the device allocator's peak over the timed steps (1e9 bytes), baselines excluded
//   mallocs_per_step       (CPU) tensor allocations the host block cache could not serve from a block of
//                          the same size freed earlier, per timed step: 0 once the first step has run;
//                          faults_per_step the page faults (fresh pages touched) per timed step
//   state_GB               model state by count: 16 B per parameter (f32 value, gradient, AdamW m and v)
//                          plus the bf16 compute copies; peak_GB − state_GB is what activations and
//                          workspaces add
//
// On the GPU every phase ends with a device synchronize, so phase times are device times; the
// GEMM-only baseline runs the same bf16 GEMMs (f32 weight-gradient accumulation, as the model).
//
// vs_pytorch needs the JSON that bench/pytorch_gpt_reference.py writes ({"mini": {"1": ms, "2": ms},
// "small": {...}}, ms per step by thread count; "mini_cpu" etc. the process CPU ms for cpu_vs_pytorch),
// named by the TRIDENT_PYTORCH_JSON environment variable; without it (or without that config/thread
// entry) the counter is left out.
//
//   /usr/bin/python3 bench/pytorch_gpt_reference.py --out build/pytorch_gpt.json
//   TRIDENT_PYTORCH_JSON=build/pytorch_gpt.json build/bench/bench_gpt_step          # ~3 minutes
//   TRIDENT_PYTORCH_JSON=build/pytorch_gpt.json build/bench/bench_gpt_step --benchmark_filter=mini
//   build/bench/bench_gpt_step --benchmark_filter=gpu                                  # GPU only
//
// Iteration counts are fixed (a `small` step takes seconds here): mini 1 warm-up + 9 steps, small
// 1 warm-up + 3 steps, each step followed by one pass of the baselines (after one warm-up of each
// shape). peak_GB, mallocs_per_step and faults_per_step leave the baselines' buffers out.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/cpu/blas_threads.h"
#include "core/cpu/host_block_cache.h"
#include "core/cuda_probe.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "experiments/train/peak_flops.h"
#include "layers/gpt_chunk.h"

namespace trident {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Minor page faults of the process so far (fresh pages touched).
double page_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_minflt + u.ru_majflt);
}

// CPU time of the whole process (all threads), for the cpu_* counters.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Where a case runs: the CPU table in f32, or a GPU with bf16 compute.
struct Target {
  Device device = Device::cpu();
  DType dtype = DType::kF32;
};

Tensor filled(const Shape& shape, float value, Device device = Device::cpu(), DType dtype = DType::kF32) {
  Tensor t = Tensor::empty(shape, dtype, device);
  ops_for(device).fill(t, value);
  return t;
}

// Device time: a GPU runs ops asynchronously, so every reading of the clock waits for it first.
double seconds_since(Clock::time_point t0, Device device) {
  ops_for(device).synchronize();
  return seconds_since(t0);
}

// ---- the PyTorch reference (ms per step) from the script's JSON ---------------------------------

// The JSON is the script's fixed two-level object of numbers, so a scan for the config's object and
// then the thread count's key inside it is enough; returns 0 when absent.
double pytorch_ms(const std::string& config, int threads) {
  const char* path = std::getenv("TRIDENT_PYTORCH_JSON");
  if (path == nullptr) return 0.0;
  std::ifstream in(path);
  if (!in) return 0.0;
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string json = buf.str();
  const std::size_t obj = json.find("\"" + config + "\"");
  if (obj == std::string::npos) return 0.0;
  const std::size_t open = json.find('{', obj), close = json.find('}', obj);
  if (open == std::string::npos || close == std::string::npos || open > close) return 0.0;
  const std::string body = json.substr(open, close - open);
  const std::size_t key = body.find("\"" + std::to_string(threads) + "\"");
  if (key == std::string::npos) return 0.0;
  const std::size_t colon = body.find(':', key);
  return colon == std::string::npos ? 0.0 : std::strtod(body.c_str() + colon + 1, nullptr);
}

// ---- the model step -----------------------------------------------------------------------------

struct PhaseSeconds {
  double zero = 0, forward = 0, backward = 0, optimizer = 0;
  double cpu = 0;  // process CPU seconds over the whole step
  double total() const { return zero + forward + backward + optimizer; }
};

class Trainer {
 public:
  Trainer(const GptConfig& config, std::int64_t batch, Target target = {})
      : device_(target.device),
        model_(config, ChunkLayout::whole(config), nullptr, {}, target.device),
        params_(model_.parameters()) {
    model_.set_compute_dtype(target.dtype);
    for (Parameter* p : params_) {
      m_.push_back(filled(p->value.shape(), 0.0f, device_));
      v_.push_back(filled(p->value.shape(), 0.0f, device_));
    }
    ids_ = tokens(config, batch, "bench.ids").to(device_);
    targets_ = tokens(config, batch, "bench.targets").to(device_);
  }

  PhaseSeconds step() {
    const Ops& ops = ops_for(device_);
    PhaseSeconds t;
    const double cpu0 = process_cpu_seconds();
    auto t0 = Clock::now();
    model_.zero_grads();
    t.zero = seconds_since(t0, device_);
    t0 = Clock::now();
    model_.forward(0, ids_, targets_, 1.0f);
    t.forward = seconds_since(t0, device_);
    t0 = Clock::now();
    model_.backward(0);
    t.backward = seconds_since(t0, device_);
    t0 = Clock::now();
    AdamWParams hp;
    hp.lr = 1e-4f;
    hp.step = ++steps_;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      hp.weight_decay = params_[i]->weight_decay() ? 0.1f : 0.0f;
      ops.adamw_update(params_[i]->value, params_[i]->grad, m_[i], v_[i], hp);
    }
    model_.refresh_compute_copies();  // part of a mixed-precision step: the next GEMMs read bf16
    t.optimizer = seconds_since(t0, device_);
    t.cpu = process_cpu_seconds() - cpu0;
    return t;
  }

  // Bytes of parameters, gradients, AdamW moments (f32 each) and bf16 compute copies.
  double state_bytes() const {
    double bytes = 0;
    for (const Parameter* p : params_) {
      bytes += 16.0 * static_cast<double>(p->value.numel());
      if (p->for_compute().dtype() != p->value.dtype()) bytes += static_cast<double>(p->for_compute().nbytes());
    }
    return bytes;
  }

 private:
  static Tensor tokens(const GptConfig& c, std::int64_t batch, const char* stream) {
    Tensor t = Tensor::empty({batch, c.seq_len}, DType::kI32);
    const std::uint64_t key = rng_key(c.seed, stream);
    for (std::int64_t i = 0; i < t.numel(); ++i)
      t.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng_uniform(key, static_cast<std::uint64_t>(i)) *
                                                            static_cast<double>(c.vocab));
    return t;
  }

  Device device_;
  GptChunk model_;
  ParameterList params_;
  std::vector<Tensor> m_, v_;
  Tensor ids_, targets_;
  std::int64_t steps_ = 0;
};

// ---- GEMM-only and attention-core baselines -----------------------------------------------------

// One linear's buffers for N tokens: weight W [in, out] (GPT-2 Conv1D layout), forward y = x·W,
// dX = dy·Wᵀ, dW += xᵀ·dy. Separate dx/dy so repeated passes never feed outputs back as inputs.
// Activations and weights in the target's dtype; dW in f32, as the model accumulates it.
struct LinearGemms {
  Tensor x, w, y, dy, dx, dw;
  LinearGemms(std::int64_t tokens, std::int64_t in, std::int64_t out, Target t)
      : x(filled({tokens, in}, 0.01f, t.device, t.dtype)),
        w(filled({in, out}, 0.02f, t.device, t.dtype)),
        y(filled({tokens, out}, 0.0f, t.device, t.dtype)),
        dy(filled({tokens, out}, 0.01f, t.device, t.dtype)),
        dx(filled({tokens, in}, 0.0f, t.device, t.dtype)),
        dw(filled({in, out}, 0.0f, t.device)) {}
  void forward(const Ops& ops) const { ops.gemm(false, false, 1.0f, x, w, 0.0f, y); }
  void backward(const Ops& ops) const {
    ops.gemm(false, true, 1.0f, dy, w, 0.0f, dx);
    ops.gemm(true, false, 1.0f, x, dy, 1.0f, dw);
  }
};

// The tied head: wte [V, h]; logits = x·wteᵀ, dX = dlogits·wte, dwte += dlogitsᵀ·x.
struct LogitGemms {
  Tensor x, wte, logits, dx, dwte;
  LogitGemms(std::int64_t tokens, std::int64_t hidden, std::int64_t vocab, Target t)
      : x(filled({tokens, hidden}, 0.01f, t.device, t.dtype)),
        wte(filled({vocab, hidden}, 0.02f, t.device, t.dtype)),
        logits(filled({tokens, vocab}, 0.0f, t.device, t.dtype)),
        dx(filled({tokens, hidden}, 0.0f, t.device, t.dtype)),
        dwte(filled({vocab, hidden}, 0.0f, t.device)) {}
  void forward(const Ops& ops) const { ops.gemm(false, true, 1.0f, x, wte, 0.0f, logits); }
  // The backward reads the logits buffer as dlogits, as the model's head does.
  void backward(const Ops& ops) const {
    ops.gemm(false, false, 1.0f, logits, wte, 0.0f, dx);
    ops.gemm(true, false, 1.0f, logits, x, 1.0f, dwte);
  }
};

struct BaselineMs {
  double gemm_fwd = 0, gemm_bwd = 0, attn = 0;
  double gemm_cpu = 0;  // process CPU ms of the GEMM pass (forward + backward)
};

// The GEMMs of one step in model order (forward blocks then logits; backward the reverse), with
// per-layer buffers so the weights and activations are as cold as in the model, and the attention
// core as the model runs it (qkv [B, S, 3, nh, hd], softmax statistics saved for backward).
class Baseline {
 public:
  Baseline(const GptConfig& c, std::int64_t batch, Target t) : c_(c), dev_(t.device) {
    const std::int64_t n = batch * c.seq_len, h = c.hidden;
    for (std::int64_t l = 0; l < c.layers; ++l) {  // per layer: c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
      linears_.push_back(std::make_unique<LinearGemms>(n, h, 3 * h, t));
      linears_.push_back(std::make_unique<LinearGemms>(n, h, h, t));
      linears_.push_back(std::make_unique<LinearGemms>(n, h, 4 * h, t));
      linears_.push_back(std::make_unique<LinearGemms>(n, 4 * h, h, t));
    }
    logits_ = std::make_unique<LogitGemms>(n, h, c.vocab, t);
    const Ops& ops = ops_for(dev_);
    qkv_ = filled({batch, c.seq_len, 3, c.heads, c.head_dim()}, 0.01f, dev_, t.dtype);
    out_ = filled({batch, c.seq_len, c.heads, c.head_dim()}, 0.0f, dev_, t.dtype);
    dout_ = filled({batch, c.seq_len, c.heads, c.head_dim()}, 0.01f, dev_, t.dtype);
    dqkv_ = filled(qkv_.shape(), 0.0f, dev_, t.dtype);
    stats_ = filled(ops.attention_saved_shape(batch, c.heads, c.seq_len), 0.0f, dev_);
    // Warm-up: each distinct shape once (thread start-up, first touches are done by the fills).
    for (std::size_t i = 0; i < 4; ++i) {
      linears_[i]->forward(ops);
      linears_[i]->backward(ops);
    }
    logits_->forward(ops);
    logits_->backward(ops);
    ops.attention_forward(qkv_, c.heads, out_, stats_);
    ops.attention_backward(dout_, qkv_, out_, stats_, c.heads, dqkv_);
  }

  // One pass: every GEMM of a step, then the attention core × layers.
  BaselineMs pass() const {
    const Ops& ops = ops_for(dev_);
    BaselineMs ms;
    ops.synchronize();
    const double cpu0 = process_cpu_seconds();
    auto t0 = Clock::now();
    for (const auto& g : linears_) g->forward(ops);
    logits_->forward(ops);
    ms.gemm_fwd = seconds_since(t0, dev_) * 1e3;
    t0 = Clock::now();
    logits_->backward(ops);
    for (auto it = linears_.rbegin(); it != linears_.rend(); ++it) (*it)->backward(ops);
    ms.gemm_bwd = seconds_since(t0, dev_) * 1e3;
    ms.gemm_cpu = (process_cpu_seconds() - cpu0) * 1e3;
    t0 = Clock::now();
    for (std::int64_t l = 0; l < c_.layers; ++l) ops.attention_forward(qkv_, c_.heads, out_, stats_);
    for (std::int64_t l = 0; l < c_.layers; ++l) ops.attention_backward(dout_, qkv_, out_, stats_, c_.heads, dqkv_);
    ms.attn = seconds_since(t0, dev_) * 1e3;
    return ms;
  }

 private:
  GptConfig c_;
  Device dev_;
  std::vector<std::unique_ptr<LinearGemms>> linears_;
  std::unique_ptr<LogitGemms> logits_;
  Tensor qkv_, out_, dout_, dqkv_, stats_;
};

// The median of f(x) over xs (the mean of the middle two for an even count).
template <typename T, typename F>
double median_of(const std::vector<T>& xs, F f) {
  std::vector<double> v;
  for (const T& x : xs) v.push_back(f(x));
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- the benchmark ------------------------------------------------------------------------------

struct Case {
  std::string name;
  GptConfig config;
  std::int64_t batch;
  int iterations;    // timed steps (one untimed warm-up step first), each followed by a baseline pass
  bool gpu = false;  // GPU 0 in bf16 instead of the CPU in f32
};

// L24 h2048 nh16 S1024 V50304: 1.31e9 parameters (GPT-3 XL's shape with GPT-2's vocabulary).
GptConfig gpt_1_3b() {
  GptConfig c;
  c.layers = 24;
  c.hidden = 2048;
  c.heads = 16;
  c.seq_len = 1024;
  c.vocab = 50304;
  return c;
}

void BM_gpt_step(benchmark::State& state, const Case& k) {
  if (k.gpu && !cuda_probe().available) {
    state.SkipWithError(("no GPU: " + cuda_probe().reason).c_str());
    return;
  }
  const Target target = k.gpu ? Target{Device::cuda(0), DType::kBF16} : Target{};
  const int threads = k.gpu ? 1 : static_cast<int>(state.range(0));
  set_blas_threads(threads);
  // The baseline first, so its buffers never take blocks the model's steps freed into the host cache;
  // they stay allocated beside the model's and are taken out of peak_GB below.
  const std::int64_t bytes_before = allocator_for(target.device).stats().current_bytes;
  const Baseline baseline(k.config, k.batch, target);
  const auto baseline_bytes = static_cast<double>(allocator_for(target.device).stats().current_bytes - bytes_before);
  Trainer trainer(k.config, k.batch, target);
  trainer.step();  // warm-up: first-touch of activations and optimizer state, BLAS thread start
  allocator_for(target.device).reset_peak();
  const std::int64_t misses_before = cpu::host_cache_stats().misses;
  const double faults_before = page_faults();

  // Each timed step is followed by one baseline pass (outside the benchmark's clock), so a noisy
  // spell on a shared machine hits both sides of the ratios alike; the ratios compare medians.
  std::vector<PhaseSeconds> steps;
  std::vector<BaselineMs> passes;
  double baseline_misses = 0, baseline_faults = 0;
  for (auto _ : state) {
    steps.push_back(trainer.step());
    state.PauseTiming();
    const double misses = static_cast<double>(cpu::host_cache_stats().misses), faults = page_faults();
    passes.push_back(baseline.pass());
    // The baseline's own allocations and faults are not the step's.
    baseline_misses += static_cast<double>(cpu::host_cache_stats().misses) - misses;
    baseline_faults += page_faults() - faults;
    state.ResumeTiming();
  }
  const double peak_bytes = static_cast<double>(allocator_for(target.device).stats().peak_bytes) - baseline_bytes;
  const double host_allocs =
      static_cast<double>(cpu::host_cache_stats().misses - misses_before) - baseline_misses;
  const double faults = page_faults() - faults_before - baseline_faults;

  auto gemm_of = [](const BaselineMs& p) { return p.gemm_fwd + p.gemm_bwd; };
  const double iters = static_cast<double>(state.iterations());
  const double step = median_of(steps, [](const PhaseSeconds& t) { return t.total() * 1e3; });
  const double gemm = median_of(passes, gemm_of);
  const double fwd = median_of(steps, [](const PhaseSeconds& t) { return t.forward * 1e3; });
  const double bwd = median_of(steps, [](const PhaseSeconds& t) { return t.backward * 1e3; });
  const double cpu_ms = median_of(steps, [](const PhaseSeconds& t) { return t.cpu * 1e3; });
  double fastest_step = 1e300, fastest_gemm = 1e300;
  for (const PhaseSeconds& t : steps) fastest_step = std::min(fastest_step, t.total() * 1e3);
  for (const BaselineMs& p : passes) fastest_gemm = std::min(fastest_gemm, gemm_of(p));
  const double tokens = static_cast<double>(k.batch * k.config.seq_len);
  using benchmark::Counter;
  state.counters["tokens/s"] = Counter(tokens, Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = Counter(k.config.flops_per_step(k.batch) * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["step_ms"] = step;
  state.counters["zero_ms"] = median_of(steps, [](const PhaseSeconds& t) { return t.zero * 1e3; });
  state.counters["fwd_ms"] = fwd;
  state.counters["bwd_ms"] = bwd;
  state.counters["opt_ms"] = median_of(steps, [](const PhaseSeconds& t) { return t.optimizer * 1e3; });
  state.counters["gemm_ms"] = gemm;
  state.counters["attn_ms"] = median_of(passes, [](const BaselineMs& p) { return p.attn; });
  state.counters["vs_gemm_only"] = step / gemm;
  state.counters["vs_gemm_only_min"] = fastest_step / fastest_gemm;
  state.counters["fwd_vs_gemm"] = fwd / median_of(passes, [](const BaselineMs& p) { return p.gemm_fwd; });
  state.counters["bwd_vs_gemm"] = bwd / median_of(passes, [](const BaselineMs& p) { return p.gemm_bwd; });
  state.counters["vs_gemm_attn"] = step / median_of(passes, [&](const BaselineMs& p) { return gemm_of(p) + p.attn; });
  state.counters["peak_GB"] = peak_bytes * 1e-9;
  if (!k.gpu) {
    state.counters["mallocs_per_step"] = host_allocs / iters;
    state.counters["faults_per_step"] = faults / iters;
    state.counters["cpu_ms"] = cpu_ms;
    state.counters["cpu_vs_gemm_only"] = cpu_ms / median_of(passes, [](const BaselineMs& p) { return p.gemm_cpu; });
  }
  state.counters["state_GB"] = trainer.state_bytes() * 1e-9;
  if (k.gpu) {
    state.counters["mfu"] = k.config.flops_per_step(k.batch) / (step * 1e-3) /
                            gpu_peak_flops(target.device, target.dtype);
    state.counters["params_M"] = static_cast<double>(k.config.parameter_count()) * 1e-6;
  }
  const double torch_ms = k.gpu ? 0.0 : pytorch_ms(k.name, threads);
  if (torch_ms > 0) {
    state.counters["pytorch_ms"] = torch_ms;
    state.counters["vs_pytorch"] = torch_ms / step;  // medians on both sides, as the script reports
    const double torch_cpu_ms = pytorch_ms(k.name + "_cpu", threads);
    if (torch_cpu_ms > 0) state.counters["cpu_vs_pytorch"] = torch_cpu_ms / cpu_ms;
  }
  state.SetLabel("B=" + std::to_string(k.batch) +
                 (k.gpu ? ", cuda:0 bf16" : torch_ms > 0 ? "" : ", no PyTorch reference"));
}

void register_all() {
  static const std::vector<Case> cases = {
      {"mini", GptConfig::mini(), 8, 9},
      {"small", GptConfig::small(), 1, 3},
      {"gpu_1.3b_bf16", gpt_1_3b(), 8, 5, true},
  };
  for (const Case& k : cases) {
    auto* b = benchmark::RegisterBenchmark(("gpt_step/" + k.name).c_str(),
                                           [&k](benchmark::State& s) { BM_gpt_step(s, k); });
    if (!k.gpu) b->ArgName("threads")->Arg(1)->Arg(2);
    b->Iterations(k.iterations)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  trident::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
