// GEMM throughput on the shapes of the `mini` GPT (L4 h256 nh8 S256 V4096, micro-batch B8, so
// N = 2048 token rows), each through trident's op table and through a direct cblas_sgemm on the
// same buffers, so the op-table overhead is visible. Every benchmark reports GFLOP/s and vs_best:
// its rate over OpenBLAS's own best on a 2048³ square sgemm with the same thread count, measured
// in the same run (first, or lazily when filtered out). The direct cblas calls run on OpenBLAS's own
// threads; the op table keeps OpenBLAS single-threaded and splits each GEMM over its worker pool
// (core/cpu/blas_threads.h), so `ops` against `cblas` compares the two ways of using 2 cores. The
// attn/fused/* cases time the fused causal attention op (forward + backward) at mini's shape and at
// GPT-2's heads for S = 256, 1024, 4096.
//
//   build/bench/bench_gemm                       # 1 and 2 OpenBLAS threads, ~0.2 s per benchmark
//   build/bench/bench_gemm --benchmark_filter=qkv --benchmark_min_time=0.05
//   build/bench/bench_gemm --benchmark_filter='square|attn/fused'
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/benchmark_main.h"
#include "core/cpu/blas_threads.h"
#include "core/cpu/cpu_attention.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace trident {
namespace {

// The `mini` model.
constexpr std::int64_t kHidden = 256, kHeads = 8, kHeadDim = kHidden / kHeads, kSeq = 256, kVocab = 4096, kBatch = 8,
                       kTokens = kBatch * kSeq;
constexpr std::int64_t kSquare = 2048;

using Clock = std::chrono::steady_clock;

// OpenBLAS threaded as it ships, for the direct cblas baselines; back to one thread afterwards, as
// the op table keeps it.
class OpenblasThreads {
 public:
  explicit OpenblasThreads(int threads) { openblas_set_num_threads(threads); }
  ~OpenblasThreads() { openblas_set_num_threads(1); }
  OpenblasThreads(const OpenblasThreads&) = delete;
  OpenblasThreads& operator=(const OpenblasThreads&) = delete;
};

Tensor filled(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape);
  ops_for(Device::cpu()).fill(t, value);
  return t;
}

// ---- baseline: OpenBLAS on a large square sgemm -------------------------------------------------

std::map<int, double>& square_best() {
  static std::map<int, double> best;  // OpenBLAS threads -> best GFLOP/s seen
  return best;
}

double square_flops() { return 2.0 * kSquare * kSquare * kSquare; }

struct SquareBuffers {
  Tensor a = filled({kSquare, kSquare}, 0.5f), b = filled({kSquare, kSquare}, 0.25f),
         c = filled({kSquare, kSquare}, 0.0f);
  // One timed 2048³ sgemm on `threads` OpenBLAS threads; returns its GFLOP/s.
  double run_once(int threads) {
    const OpenblasThreads blas(threads);
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kSquare, kSquare, kSquare, 1.0f, a.data<float>(), kSquare,
                b.data<float>(), kSquare, 0.0f, c.data<float>(), kSquare);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    return square_flops() / s * 1e-9;
  }
};

SquareBuffers& square_buffers() {
  static SquareBuffers buffers;
  return buffers;
}

// The baseline for the current thread count, measured now (warm-up + best of 3) if not seen yet.
double baseline_gflops(int threads) {
  auto it = square_best().find(threads);
  if (it != square_best().end()) return it->second;
  SquareBuffers& sq = square_buffers();
  sq.run_once(threads);
  double best = 0.0;
  for (int i = 0; i < 3; ++i) best = std::max(best, sq.run_once(threads));
  return square_best()[threads] = best;
}

void report(benchmark::State& state, double flops_per_iter, int threads, double seconds) {
  const double gflops = flops_per_iter * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vs_best"] = gflops / baseline_gflops(threads);
}

void BM_square_sgemm(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  set_blas_threads(threads);
  SquareBuffers& sq = square_buffers();
  sq.run_once(threads);  // warm-up: thread start, page faults
  double best = 0.0;
  const auto t0 = Clock::now();
  for (auto _ : state) best = std::max(best, sq.run_once(threads));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  square_best()[threads] = std::max(square_best()[threads], best);
  state.counters["best_GFLOP/s"] = best;
  report(state, square_flops(), threads, seconds);
  state.SetLabel("2048^3 sgemm (baseline)");
}

// ---- one GEMM of the model, through the op table or cblas ---------------------------------------

struct GemmCase {
  std::string name;
  bool ta, tb;
  float beta;     // 1 for weight gradients (accumulated), else 0
  Shape a, b, c;  // stored shapes
};

// Linear with weight W [in, out] (GPT-2 Conv1D layout) on x [N, in]: forward y = x·W, dX = dy·Wᵀ,
// dW += xᵀ·dy.
void add_linear(std::vector<GemmCase>& cases, const std::string& name, std::int64_t in, std::int64_t out) {
  cases.push_back({name + ".fwd", false, false, 0.0f, {kTokens, in}, {in, out}, {kTokens, out}});
  cases.push_back({name + ".dX", false, true, 0.0f, {kTokens, out}, {in, out}, {kTokens, in}});
  cases.push_back({name + ".dW", true, false, 1.0f, {kTokens, in}, {kTokens, out}, {in, out}});
}

std::vector<GemmCase> model_cases() {
  std::vector<GemmCase> cases;
  add_linear(cases, "qkv", kHidden, 3 * kHidden);
  add_linear(cases, "attn_proj", kHidden, kHidden);
  add_linear(cases, "mlp_up", kHidden, 4 * kHidden);
  add_linear(cases, "mlp_down", 4 * kHidden, kHidden);
  // Tied output embedding wte [V, h]: logits = x·wteᵀ, dX = dlogits·wte, dwte += dlogitsᵀ·x.
  cases.push_back({"logits.fwd", false, true, 0.0f, {kTokens, kHidden}, {kVocab, kHidden}, {kTokens, kVocab}});
  cases.push_back({"logits.dX", false, false, 0.0f, {kTokens, kVocab}, {kVocab, kHidden}, {kTokens, kHidden}});
  cases.push_back({"logits.dW", true, false, 1.0f, {kTokens, kVocab}, {kTokens, kHidden}, {kVocab, kHidden}});
  return cases;
}

void BM_gemm(benchmark::State& state, const GemmCase& g, bool via_ops) {
  const int threads = static_cast<int>(state.range(0));
  set_blas_threads(threads);
  const Tensor a = filled(g.a, 0.01f), b = filled(g.b, 0.02f), c = filled(g.c, 0.0f);
  const std::int64_t m = g.ta ? g.a[1] : g.a[0], k = g.ta ? g.a[0] : g.a[1], n = g.tb ? g.b[0] : g.b[1];
  const Ops& ops = ops_for(Device::cpu());
  const OpenblasThreads blas(via_ops ? 1 : threads);  // the direct cblas calls on OpenBLAS's threads
  auto run = [&] {
    if (via_ops) {
      ops.gemm(g.ta, g.tb, 1.0f, a, b, g.beta, c);
    } else {
      cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a.data<float>(),
                  static_cast<int>(g.a[1]), b.data<float>(), static_cast<int>(g.b[1]), g.beta, c.data<float>(),
                  static_cast<int>(n));
    }
  };
  run();  // warm-up
  const auto t0 = Clock::now();
  for (auto _ : state) run();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  report(state, 2.0 * static_cast<double>(m * n * k), threads, seconds);
  state.SetLabel("M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k));
}

// ---- attention GEMMs per head, straight out of qkv [B, S, 3, nh, hd] ----------------------------

enum class AttnGemm { kScores, kProbsV };  // S = Q·Kᵀ [S, S] per head; O = P·V [S, hd] per head

void BM_attention_gemm(benchmark::State& state, AttnGemm which, bool via_ops) {
  const int threads = static_cast<int>(state.range(0));
  set_blas_threads(threads);
  const std::int64_t ld3 = 3 * kHidden;
  const Tensor qkv = filled({kBatch, kSeq, 3, kHeads, kHeadDim}, 0.01f);
  const Tensor probs = filled({kBatch, kHeads, kSeq, kSeq}, 1.0f / kSeq);
  const Tensor out = filled({kBatch, kSeq, kHeads, kHeadDim}, 0.0f);
  const Tensor flat_qkv = qkv.view({qkv.numel()}), flat_out = out.view({out.numel()});
  const Ops& ops = ops_for(Device::cpu());
  const OpenblasThreads blas(via_ops ? 1 : threads);  // the direct cblas calls on OpenBLAS's threads
  const bool scores = which == AttnGemm::kScores;
  // One strided-batched call per sequence: the nh heads of batch b sit hd apart in each row.
  GemmBatch shape;
  shape.batch = kHeads, shape.m = kSeq, shape.n = scores ? kSeq : kHeadDim, shape.k = scores ? kHeadDim : kSeq;
  shape.lda = scores ? ld3 : kSeq, shape.ldb = ld3, shape.ldc = scores ? kSeq : kHidden;
  shape.stride_a = scores ? kHeadDim : kSeq * kSeq, shape.stride_b = kHeadDim,
  shape.stride_c = scores ? kSeq * kSeq : kHeadDim;
  auto run = [&] {
    for (std::int64_t b = 0; b < kBatch; ++b) {
      const std::int64_t row0 = b * kSeq * ld3;
      const Tensor a = scores ? flat_qkv.slice0(row0, flat_qkv.numel()) : probs.slice0(b, b + 1);
      const Tensor bm = flat_qkv.slice0(row0 + (scores ? kHidden : 2 * kHidden), flat_qkv.numel());
      const Tensor c = scores ? probs.slice0(b, b + 1) : flat_out.slice0(b * kSeq * kHidden, flat_out.numel());
      if (via_ops) {
        ops.gemm_strided_batched(false, scores, shape, 1.0f, a, bm, 0.0f, c);
        continue;
      }
      for (std::int64_t h = 0; h < kHeads; ++h)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, scores ? CblasTrans : CblasNoTrans, static_cast<int>(shape.m),
                    static_cast<int>(shape.n), static_cast<int>(shape.k), 1.0f, a.data<float>() + h * shape.stride_a,
                    static_cast<int>(shape.lda), bm.data<float>() + h * shape.stride_b, static_cast<int>(shape.ldb),
                    0.0f, c.data<float>() + h * shape.stride_c, static_cast<int>(shape.ldc));
    }
  };
  run();
  const auto t0 = Clock::now();
  for (auto _ : state) run();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  report(state, 2.0 * static_cast<double>(kBatch * kHeads * shape.m * shape.n * shape.k), threads, seconds);
  state.SetLabel(std::string(scores ? "Q.K^T" : "P.V") + " per head, batch " + std::to_string(kBatch * kHeads) +
                 " x M=" + std::to_string(shape.m) + " N=" + std::to_string(shape.n) + " K=" + std::to_string(shape.k));
}

// ---- the fused causal attention op (core/cpu/cpu_attention.cpp) ---------------------------------

struct AttnCase {
  std::string name;
  std::int64_t batch, seq, heads, head_dim;
};

// mini's shape, and GPT-2 small's heads (h 768, 12 heads of 64) at S = 256, 1024, 4096 with
// B·S = 4096 tokens each.
std::vector<AttnCase> attention_cases() {
  return {{"mini_S256", kBatch, kSeq, kHeads, kHeadDim},
          {"h768_S256", 16, 256, 12, 64},
          {"h768_S1024", 4, 1024, 12, 64},
          {"h768_S4096", 1, 4096, 12, 64}};
}

// One iteration = attention_forward + attention_backward. Counters:
//   GFLOP/s, vs_best     model FLOPs of the causal part only: forward Q·Kᵀ and P·V, backward dV, dP,
//                        dQ, dK, i.e. 6 · 2·hd per (query, key ≤ query) pair per head; over the
//                        square sgemm's rate (same threads, same run)
//   exec_GFLOP/s         also counting backward's recompute of Q·Kᵀ (7 products; FlashAttention-2's count)
//   fwd_ms, bwd_ms       the halves
//   saved_bytes          the saved state (log-sum-exp, [B, nh, S, 1] f32); sxs_bytes what [B, nh, S, S]
//                        probabilities would take; workspace_bytes the per-thread scratch
void BM_attention(benchmark::State& state, const AttnCase& a) {
  const int threads = static_cast<int>(state.range(0));
  set_blas_threads(threads);
  const Ops& ops = ops_for(Device::cpu());
  const Tensor qkv = filled({a.batch, a.seq, 3, a.heads, a.head_dim}, 0.0f);
  // Random-ish values so the softmax is not degenerate: a fixed pattern in [-1, 1].
  for (std::int64_t i = 0; i < qkv.numel(); ++i) qkv.data<float>()[i] = static_cast<float>((i * 7919 % 2001) - 1000) * 1e-3f;
  const Tensor out = filled({a.batch, a.seq, a.heads, a.head_dim}, 0.0f);
  const Tensor dout = filled({a.batch, a.seq, a.heads, a.head_dim}, 0.01f);
  const Tensor saved = Tensor::empty(ops.attention_saved_shape(a.batch, a.heads, a.seq));
  const Tensor dqkv = Tensor::empty(qkv.shape());
  ops.attention_forward(qkv, a.heads, out, saved);  // warm-up: scratch, page faults
  ops.attention_backward(dout, qkv, out, saved, a.heads, dqkv);
  double fwd = 0, bwd = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    ops.attention_forward(qkv, a.heads, out, saved);
    auto t1 = Clock::now();
    ops.attention_backward(dout, qkv, out, saved, a.heads, dqkv);
    fwd += std::chrono::duration<double>(t1 - t0).count();
    bwd += std::chrono::duration<double>(Clock::now() - t1).count();
  }
  const double pairs = static_cast<double>(a.batch * a.heads) * static_cast<double>(a.seq) *
                       static_cast<double>(a.seq + 1) / 2.0;
  const double per_product = 2.0 * static_cast<double>(a.head_dim) * pairs;
  report(state, 6.0 * per_product, threads, fwd + bwd);
  const double iters = static_cast<double>(state.iterations());
  state.counters["exec_GFLOP/s"] = 7.0 * per_product * iters / (fwd + bwd) * 1e-9;
  state.counters["fwd_ms"] = fwd / iters * 1e3;
  state.counters["bwd_ms"] = bwd / iters * 1e3;
  state.counters["saved_bytes"] = static_cast<double>(saved.nbytes());
  state.counters["sxs_bytes"] = 4.0 * static_cast<double>(a.batch * a.heads) * static_cast<double>(a.seq * a.seq);
  state.counters["workspace_bytes"] = static_cast<double>(cpu::attention_workspace_bytes(a.seq, a.head_dim));
  state.SetLabel("B=" + std::to_string(a.batch) + " S=" + std::to_string(a.seq) + " nh=" + std::to_string(a.heads) +
                 " hd=" + std::to_string(a.head_dim) + " fwd+bwd, causal model FLOPs");
}

void register_all() {
  auto threads = [](benchmark::internal::Benchmark* b) {
    b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  // A fixed count for the baseline: best of 4 (plus a warm-up), whatever --benchmark_min_time says.
  threads(benchmark::RegisterBenchmark("baseline/square_sgemm_2048", BM_square_sgemm)->Iterations(4));
  static const std::vector<GemmCase> cases = model_cases();
  for (const GemmCase& g : cases)
    for (bool via_ops : {true, false})
      threads(benchmark::RegisterBenchmark(("gemm/" + g.name + (via_ops ? "/ops" : "/cblas")).c_str(),
                                           [&g, via_ops](benchmark::State& s) { BM_gemm(s, g, via_ops); }));
  for (AttnGemm which : {AttnGemm::kScores, AttnGemm::kProbsV})
    for (bool via_ops : {true, false}) {
      const std::string name = std::string("attn/") + (which == AttnGemm::kScores ? "qk" : "pv") +
                               (via_ops ? "/ops_strided_batched" : "/cblas_per_head");
      threads(benchmark::RegisterBenchmark(
          name.c_str(), [which, via_ops](benchmark::State& s) { BM_attention_gemm(s, which, via_ops); }));
    }
  static const std::vector<AttnCase> attn = attention_cases();
  for (const AttnCase& a : attn)
    threads(benchmark::RegisterBenchmark(("attn/fused/" + a.name).c_str(),
                                         [&a](benchmark::State& s) { BM_attention(s, a); }));
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) { return trident::bench::run_benchmarks(argc, argv, trident::register_all); }
