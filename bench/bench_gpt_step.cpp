// One single-rank training step of the GPT (zero_grads + forward + backward + AdamW over every
// parameter) for `mini` (L4 h256 nh8 S256 V4096, micro-batch 8) and `small` (GPT-2 124M shape,
// micro-batch 1), at 1 and 2 OpenBLAS threads. Counters, per step:
//
//   tokens/s, GFLOP/s      rates; GFLOP/s counts GptConfig::flops_per_step (model FLOPs)
//   zero/fwd/bwd/opt_ms    phase times (steady_clock inside the iteration), averaged
//   gemm_ms                the step's linear GEMMs alone (GEMM-only baseline, same run, same threads):
//                          per block c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, and the tied logits,
//                          each forward, dX and dW, through ops_for(cpu).gemm on per-layer buffers.
//                          The attention core's per-head GEMMs are not in it (see attn_ms)
//   attn_ms                the attention core op alone (attention_forward + attention_backward, × L):
//                          its causal-blocked per-head GEMMs plus softmax, as the model calls it
//   vs_gemm_only           step / gemm_ms;  fwd_vs_gemm, bwd_vs_gemm: the phases over their GEMM share
//   vs_gemm_attn           step / (gemm_ms + attn_ms): what everything else (LayerNorm, GELU, adds,
//                          embedding, cross-entropy, AdamW, allocation) costs on top
//   vs_pytorch             tokens/s over PyTorch's on the same model, threads and machine (> 1: faster)
//
// vs_pytorch needs the JSON that bench/pytorch_gpt_reference.py writes ({"mini": {"1": ms, "2": ms},
// "small": {...}}, ms per step by thread count), named by the TRIDENT_PYTORCH_JSON environment
// variable; without it (or without that config/thread entry) the counter is left out.
//
//   /usr/bin/python3 bench/pytorch_gpt_reference.py --out build/pytorch_gpt.json
//   TRIDENT_PYTORCH_JSON=build/pytorch_gpt.json build/bench/bench_gpt_step          # ~3 minutes
//   TRIDENT_PYTORCH_JSON=build/pytorch_gpt.json build/bench/bench_gpt_step --benchmark_filter=mini
//
// Iteration counts are fixed (a `small` step takes seconds here): mini 1 warm-up + 8 steps, small
// 1 warm-up + 2 steps; the GEMM-only and attention baselines are the best of 3 (mini) or 1 (small)
// passes after one warm-up of each shape.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/cpu/blas_threads.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "layers/gpt_model.h"

namespace trident {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Tensor filled(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape);
  ops_for(Device::cpu()).fill(t, value);
  return t;
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
  double total() const { return zero + forward + backward + optimizer; }
};

class Trainer {
 public:
  Trainer(const GptConfig& config, std::int64_t batch)
      : model_(config, StageLayout::whole(config), nullptr, {}), params_(model_.parameters()) {
    for (Parameter* p : params_) {
      m_.push_back(filled(p->value.shape(), 0.0f));
      v_.push_back(filled(p->value.shape(), 0.0f));
    }
    ids_ = tokens(config, batch, "bench.ids");
    targets_ = tokens(config, batch, "bench.targets");
  }

  PhaseSeconds step() {
    const Ops& ops = ops_for(Device::cpu());
    PhaseSeconds t;
    auto t0 = Clock::now();
    model_.zero_grads();
    t.zero = seconds_since(t0);
    t0 = Clock::now();
    model_.forward(0, ids_, targets_, 1.0f);
    t.forward = seconds_since(t0);
    t0 = Clock::now();
    model_.backward(0);
    t.backward = seconds_since(t0);
    t0 = Clock::now();
    AdamWParams hp;
    hp.lr = 1e-4f;
    hp.step = ++steps_;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      hp.weight_decay = params_[i]->weight_decay() ? 0.1f : 0.0f;
      ops.adamw_update(params_[i]->value, params_[i]->grad, m_[i], v_[i], hp);
    }
    t.optimizer = seconds_since(t0);
    return t;
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

  GptModel model_;
  ParameterList params_;
  std::vector<Tensor> m_, v_;
  Tensor ids_, targets_;
  std::int64_t steps_ = 0;
};

// ---- GEMM-only and attention-core baselines -----------------------------------------------------

// One linear's buffers for N tokens: weight W [in, out] (GPT-2 Conv1D layout), forward y = x·W,
// dX = dy·Wᵀ, dW += xᵀ·dy. Separate dx/dy so repeated passes never feed outputs back as inputs.
struct LinearGemms {
  Tensor x, w, y, dy, dx, dw;
  LinearGemms(std::int64_t tokens, std::int64_t in, std::int64_t out)
      : x(filled({tokens, in}, 0.01f)),
        w(filled({in, out}, 0.02f)),
        y(filled({tokens, out}, 0.0f)),
        dy(filled({tokens, out}, 0.01f)),
        dx(filled({tokens, in}, 0.0f)),
        dw(filled({in, out}, 0.0f)) {}
  void forward(const Ops& ops) const { ops.gemm(false, false, 1.0f, x, w, 0.0f, y); }
  void backward(const Ops& ops) const {
    ops.gemm(false, true, 1.0f, dy, w, 0.0f, dx);
    ops.gemm(true, false, 1.0f, x, dy, 1.0f, dw);
  }
};

// The tied head: wte [V, h]; logits = x·wteᵀ, dX = dlogits·wte, dwte += dlogitsᵀ·x.
struct LogitGemms {
  Tensor x, wte, logits, dx, dwte;
  LogitGemms(std::int64_t tokens, std::int64_t hidden, std::int64_t vocab)
      : x(filled({tokens, hidden}, 0.01f)),
        wte(filled({vocab, hidden}, 0.02f)),
        logits(filled({tokens, vocab}, 0.0f)),
        dx(filled({tokens, hidden}, 0.0f)),
        dwte(filled({vocab, hidden}, 0.0f)) {}
  void forward(const Ops& ops) const { ops.gemm(false, true, 1.0f, x, wte, 0.0f, logits); }
  // The backward reads the logits buffer as dlogits, as the model's head does.
  void backward(const Ops& ops) const {
    ops.gemm(false, false, 1.0f, logits, wte, 0.0f, dx);
    ops.gemm(true, false, 1.0f, logits, x, 1.0f, dwte);
  }
};

struct BaselineMs {
  double gemm_fwd = 0, gemm_bwd = 0, attn = 0;
};

// Times the GEMMs of one step in model order (forward blocks then logits; backward the reverse),
// with per-layer buffers so the weights and activations are as cold as in the model.
BaselineMs measure_baseline(const GptConfig& c, std::int64_t batch, int passes) {
  const Ops& ops = ops_for(Device::cpu());
  const std::int64_t n = batch * c.seq_len, h = c.hidden;
  std::vector<std::unique_ptr<LinearGemms>> linears;  // per layer: c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
  for (std::int64_t l = 0; l < c.layers; ++l) {
    linears.push_back(std::make_unique<LinearGemms>(n, h, 3 * h));
    linears.push_back(std::make_unique<LinearGemms>(n, h, h));
    linears.push_back(std::make_unique<LinearGemms>(n, h, 4 * h));
    linears.push_back(std::make_unique<LinearGemms>(n, 4 * h, h));
  }
  const LogitGemms logits(n, h, c.vocab);
  // The attention core as the model runs it: qkv [B, S, 3, nh, hd], probabilities saved for backward.
  const Tensor qkv = filled({batch, c.seq_len, 3, c.heads, c.head_dim()}, 0.01f);
  const Tensor out = filled({batch, c.seq_len, c.heads, c.head_dim()}, 0.0f);
  const Tensor dout = filled({batch, c.seq_len, c.heads, c.head_dim()}, 0.01f);
  const Tensor dqkv = filled(qkv.shape(), 0.0f);
  const Tensor probs = filled(ops.attention_saved_shape(batch, c.heads, c.seq_len), 0.0f);

  // Warm-up: each distinct shape once (thread start-up, first touches are done by the fills).
  for (std::size_t i = 0; i < 4; ++i) {
    linears[i]->forward(ops);
    linears[i]->backward(ops);
  }
  logits.forward(ops);
  logits.backward(ops);
  ops.attention_forward(qkv, c.heads, out, probs);
  ops.attention_backward(dout, qkv, out, probs, c.heads, dqkv);

  BaselineMs best{1e300, 1e300, 1e300};
  for (int p = 0; p < passes; ++p) {
    auto t0 = Clock::now();
    for (const auto& g : linears) g->forward(ops);
    logits.forward(ops);
    best.gemm_fwd = std::min(best.gemm_fwd, seconds_since(t0) * 1e3);
    t0 = Clock::now();
    logits.backward(ops);
    for (auto it = linears.rbegin(); it != linears.rend(); ++it) (*it)->backward(ops);
    best.gemm_bwd = std::min(best.gemm_bwd, seconds_since(t0) * 1e3);
    t0 = Clock::now();
    for (std::int64_t l = 0; l < c.layers; ++l) ops.attention_forward(qkv, c.heads, out, probs);
    for (std::int64_t l = 0; l < c.layers; ++l) ops.attention_backward(dout, qkv, out, probs, c.heads, dqkv);
    best.attn = std::min(best.attn, seconds_since(t0) * 1e3);
  }
  return best;
}

// ---- the benchmark ------------------------------------------------------------------------------

struct Case {
  std::string name;
  GptConfig config;
  std::int64_t batch;
  int iterations;       // timed steps (one untimed warm-up step first)
  int baseline_passes;  // best-of for the GEMM-only baseline
};

void BM_gpt_step(benchmark::State& state, const Case& k) {
  const int threads = static_cast<int>(state.range(0));
  set_blas_threads(threads);
  Trainer trainer(k.config, k.batch);
  trainer.step();  // warm-up: first-touch of activations and optimizer state, BLAS thread start

  PhaseSeconds sum;
  for (auto _ : state) {
    const PhaseSeconds t = trainer.step();
    sum.zero += t.zero;
    sum.forward += t.forward;
    sum.backward += t.backward;
    sum.optimizer += t.optimizer;
  }
  // After the timed loop, so it is not in the rates.
  const BaselineMs base = measure_baseline(k.config, k.batch, k.baseline_passes);

  const double iters = static_cast<double>(state.iterations());
  const double step_ms = sum.total() / iters * 1e3, fwd_ms = sum.forward / iters * 1e3,
               bwd_ms = sum.backward / iters * 1e3, gemm_ms = base.gemm_fwd + base.gemm_bwd;
  const double tokens = static_cast<double>(k.batch * k.config.seq_len);
  using benchmark::Counter;
  state.counters["tokens/s"] = Counter(tokens, Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = Counter(k.config.flops_per_step(k.batch) * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["zero_ms"] = sum.zero / iters * 1e3;
  state.counters["fwd_ms"] = fwd_ms;
  state.counters["bwd_ms"] = bwd_ms;
  state.counters["opt_ms"] = sum.optimizer / iters * 1e3;
  state.counters["gemm_ms"] = gemm_ms;
  state.counters["attn_ms"] = base.attn;
  state.counters["vs_gemm_only"] = step_ms / gemm_ms;
  state.counters["fwd_vs_gemm"] = fwd_ms / base.gemm_fwd;
  state.counters["bwd_vs_gemm"] = bwd_ms / base.gemm_bwd;
  state.counters["vs_gemm_attn"] = step_ms / (gemm_ms + base.attn);
  const double torch_ms = pytorch_ms(k.name, threads);
  if (torch_ms > 0) {
    state.counters["pytorch_ms"] = torch_ms;
    state.counters["vs_pytorch"] = torch_ms / step_ms;  // = tokens/s over PyTorch's tokens/s
  }
  state.SetLabel("B=" + std::to_string(k.batch) + (torch_ms > 0 ? "" : ", no PyTorch reference"));
}

void register_all() {
  static const std::vector<Case> cases = {
      {"mini", GptConfig::mini(), 8, 8, 3},
      {"small", GptConfig::small(), 1, 2, 1},
  };
  for (const Case& k : cases)
    benchmark::RegisterBenchmark(("gpt_step/" + k.name).c_str(), [&k](benchmark::State& s) { BM_gpt_step(s, k); })
        ->ArgName("threads")
        ->Arg(1)
        ->Arg(2)
        ->Iterations(k.iterations)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
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
