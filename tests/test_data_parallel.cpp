// DataParallel (every ZeRO stage), DistributedAdamW and the learning-rate schedule as units, on real
// MPI ranks (np 1, 2, 4: the DP group is the world). A small "model" of f32 tensors stands in for
// the GPT: the test plays the layers' part (before_use, accumulating into the gradient handles,
// reporting to DataParallel), so every path is checked against values computed here for all ranks.
// Values are multiples of 1/8 and the ranks a power of two, so sums and averages are exact in any
// order and the stages can be compared with ==. Collectives run on every rank unconditionally.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <numeric>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "parallel/data_parallel.h"
#include "parallel/optimizer.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

int world_rank() { return test_world().rank(); }
int world_size() { return test_world().size(); }

// Element j of tensor k: its initial value, and the gradient rank r contributes in micro-batch mb.
float init_value(int k, std::int64_t j) { return 0.125f * static_cast<float>((k * 31 + j) % 23) - 1.0f; }
float contribution(int r, int mb, int k, std::int64_t j) {
  return 0.25f * static_cast<float>(r + 1) + 0.5f * static_cast<float>(mb) + 0.125f * static_cast<float>((j + k) % 7);
}
// The averaged gradient over the world of `micro_batches` contributions.
double averaged(int micro_batches, int k, std::int64_t j) {
  double sum = 0;
  for (int r = 0; r < world_size(); ++r)
    for (int mb = 0; mb < micro_batches; ++mb) sum += contribution(r, mb, k, j);
  return sum / world_size();
}

// Tensors in DP (backward) order: two groups (chunks), the last tensor alone (a tied copy).
struct Model {
  std::vector<Shape> shapes{{37}, {5, 4}, {64}, {3}, {10, 10}, {17}, {6, 3}};
  std::vector<int> groups{1, 1, 1, 0, 0, 0, 0};
  std::vector<Tensor> values, grads;

  Model() {
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      Tensor v = Tensor::empty(shapes[k]);
      for (std::int64_t j = 0; j < v.numel(); ++j) v.data<float>()[j] = init_value(static_cast<int>(k), j);
      values.push_back(v);
      grads.push_back(Tensor::zeros(shapes[k]));
    }
  }
  int size() const { return static_cast<int>(shapes.size()); }
  std::vector<DpTensor> dp_tensors() {
    std::vector<DpTensor> out;
    for (int k = 0; k < size(); ++k) out.push_back({&values[k], &grads[k], groups[k], k == size() - 1});
    return out;
  }
};

std::unique_ptr<DataParallel> make_dp(Model& m, int zero, std::size_t bucket_bytes = 96, bool overlap = true) {
  DataParallelOptions o;
  o.bucket_bytes = bucket_bytes;
  o.overlap = overlap;
  o.zero = zero;
  return std::make_unique<DataParallel>(m.dp_tensors(), &test_world(), o);
}

// One step's backward as the layers run it: per micro-batch, every tensor in backward order gets a
// buffer (before_use), its contribution, and is reported.
void run_backward(DataParallel& dp, Model& m, int micro_batches) {
  dp.start_step();
  for (int mb = 0; mb < micro_batches; ++mb)
    for (int k = 0; k < m.size(); ++k) {
      dp.before_use(ParamUse::kAccumulate, {k});
      float* g = m.grads[static_cast<std::size_t>(k)].data<float>();
      for (std::int64_t j = 0; j < m.grads[static_cast<std::size_t>(k)].numel(); ++j)
        g[j] += contribution(world_rank(), mb, k, j);
      if (dp.zero() >= 2) dp.accumulated(k);
      else if (mb == micro_batches - 1) dp.grad_final(k);
    }
  dp.finish_grad_reduce();
}

// Every tensor's part of the averaged gradient this rank holds, against the expected average.
void expect_reduced_gradients(const DataParallel& dp, int micro_batches, const std::string& what) {
  for (int k = 0; k < static_cast<int>(dp.size()); ++k) {
    std::int64_t offset = 0;
    const Tensor piece = dp.grad_piece(k, &offset);
    for (std::int64_t j = 0; j < piece.numel(); ++j)
      ASSERT_EQ(piece.data<float>()[j], averaged(micro_batches, k, offset + j))
          << what << ": tensor " << k << " element " << offset + j << " (rank " << world_rank() << ")";
  }
}

// ---- DataParallel -------------------------------------------------------------------------------

TEST(DataParallel, BucketsRespectSizeGroupsAndAloneTensors) {
  Model m;
  auto dp = make_dp(m, 1, /*bucket_bytes=*/96);
  const int n = world_size();
  int last_bucket = -1;
  for (int k = 0; k < m.size(); ++k) {
    const DataParallel::Slot& s = dp->slot(k);
    EXPECT_GE(s.bucket, last_bucket) << "tensors keep their order";
    if (k > 0 && m.groups[static_cast<std::size_t>(k)] != m.groups[static_cast<std::size_t>(k - 1)]) {
      EXPECT_GT(s.bucket, last_bucket) << "a bucket never spans two groups (tensor " << k << ")";
    }
    last_bucket = s.bucket;
  }
  const DataParallel::Slot& alone = dp->slot(m.size() - 1);
  EXPECT_EQ(alone.begin, 0);
  EXPECT_EQ(dp->bucket_size(alone.bucket), (18 + n - 1) / n * n) << "the tied copy sits alone, padded to dp";
  EXPECT_NE(alone.bucket, dp->slot(m.size() - 2).bucket);
  for (int b = 0; b < dp->num_buckets(); ++b) {
    EXPECT_EQ(dp->bucket_size(b) % n, 0);
    EXPECT_EQ(dp->shard_size(b) * n, dp->bucket_size(b));
    EXPECT_EQ(dp->shard_begin(b), world_rank() * dp->shard_size(b));
  }
}

TEST(DataParallel, EveryStageAveragesTheSameGradients) {
  for (int zero = 0; zero <= 3; ++zero)
    for (bool overlap : {true, false})
      for (int micro_batches : {1, 3}) {
        Model m;
        auto dp = make_dp(m, zero, 96, overlap);
        dp->zero_grads();
        run_backward(*dp, m, micro_batches);
        expect_reduced_gradients(*dp, micro_batches,
                                 "ZeRO-" + std::to_string(zero) + (overlap ? " overlapped" : " at the end") + ", " +
                                     std::to_string(micro_batches) + " micro-batches");
        // A second step starts from zero again.
        dp->zero_grads();
        run_backward(*dp, m, micro_batches);
        expect_reduced_gradients(*dp, micro_batches, "second step, ZeRO-" + std::to_string(zero));
      }
}

TEST(DataParallel, ShardedGradientsExistOnlyWhileAccumulating) {
  Model m;
  auto dp = make_dp(m, 2);
  if (dp->dp() == 1) GTEST_SKIP() << "one replica shards nothing";
  EXPECT_FALSE(m.grads[0].defined()) << "ZeRO-2 keeps no whole gradient between micro-batches";
  dp->start_step();
  dp->before_use(ParamUse::kAccumulate, {0});
  EXPECT_TRUE(m.grads[0].defined());
  EXPECT_EQ(m.grads[0].shape(), m.shapes[0]);
  const std::int64_t comm = allocator_for(Device::cpu()).labelled()[MemoryKind::kCommBuffers];
  EXPECT_GT(comm, 0) << "the micro-batch's gradient buffer is a communication buffer";
  for (int k = 0; k < m.size(); ++k) {
    dp->before_use(ParamUse::kAccumulate, {k});
    dp->accumulated(k);
  }
  dp->finish_grad_reduce();
  EXPECT_FALSE(m.grads[0].defined());
  EXPECT_EQ(allocator_for(Device::cpu()).labelled()[MemoryKind::kCommBuffers], 0) << "every round buffer is freed";
}

TEST(DataParallel, ZeroThreeGathersParametersAroundTheirUse) {
  Model m;
  auto dp = make_dp(m, 3);
  if (dp->dp() == 1) GTEST_SKIP() << "one replica shards nothing";
  for (const Tensor& v : m.values) EXPECT_FALSE(v.defined()) << "ZeRO-3 keeps only shards between uses";
  // A forward pass runs the tensors from the last to the first; each is gathered whole.
  for (int k = m.size() - 1; k >= 0; --k) {
    dp->before_use(ParamUse::kForward, {k});
    const Tensor& v = m.values[static_cast<std::size_t>(k)];
    ASSERT_TRUE(v.defined()) << "tensor " << k;
    ASSERT_EQ(v.shape(), m.shapes[static_cast<std::size_t>(k)]);
    for (std::int64_t j = 0; j < v.numel(); ++j) ASSERT_EQ(v.data<float>()[j], init_value(k, j)) << k << ", " << j;
    // At most the buckets in use and the one prefetched are gathered.
    const std::int64_t comm = allocator_for(Device::cpu()).labelled()[MemoryKind::kCommBuffers];
    EXPECT_LE(comm, 4 * (dp->bucket_size(dp->slot(k).bucket) +
                         (dp->slot(k).bucket > 0 ? dp->bucket_size(dp->slot(k).bucket - 1) : 0)));
  }
  dp->end_pass();
  for (const Tensor& v : m.values) EXPECT_FALSE(v.defined());
  EXPECT_EQ(allocator_for(Device::cpu()).labelled()[MemoryKind::kCommBuffers], 0);
}

TEST(DataParallel, ModelStateBytesFollowTheFormula) {
  const std::int64_t before = allocator_for(Device::cpu()).labelled().labelled();
  const int n = world_size();
  for (int zero = 0; zero <= 3; ++zero) {
    Model m;
    auto dp = make_dp(m, zero);
    std::int64_t psi = 0;  // Σ padded bucket sizes: the rank's parameters as data parallelism keeps them
    for (int b = 0; b < dp->num_buckets(); ++b) psi += dp->bucket_size(b);
    const int z = n > 1 ? zero : 0;
    // f32 Adam: 16Ψ, 8Ψ + 8Ψ/N, 4Ψ + 12Ψ/N, 16Ψ/N bytes.
    const std::int64_t expect_total[] = {16 * psi, 8 * psi + 8 * psi / n, 4 * psi + 12 * psi / n, 16 * psi / n};
    const MemoryByKind got = dp->model_state_bytes();
    EXPECT_EQ(got.labelled(), expect_total[z]) << "ZeRO-" << zero << " on " << n << " ranks";
    EXPECT_EQ(got[MemoryKind::kWeights], 4 * (z == 3 ? psi / n : psi));
    EXPECT_EQ(got[MemoryKind::kGradients], 4 * (z >= 2 ? psi / n : psi));
    EXPECT_EQ(got[MemoryKind::kOptimizerState], 8 * (z >= 1 ? psi / n : psi));
    EXPECT_EQ(allocator_for(Device::cpu()).labelled().labelled() - before, got.labelled())
        << "the allocator's labels hold exactly the model state";
  }
  EXPECT_EQ(allocator_for(Device::cpu()).labelled().labelled(), before) << "labels go with the buffers";
}

TEST(DataParallel, GatherParamsAfterAShardedUpdate) {
  for (int zero : {1, 2}) {
    Model m;
    auto dp = make_dp(m, zero);
    // Each rank changes its shard only, as the optimizer does.
    for (int b = 0; b < dp->num_buckets(); ++b) {
      const Tensor shard = dp->param_shard(b);
      for (std::int64_t j = 0; j < shard.numel(); ++j) shard.data<float>()[j] += 0.5f * static_cast<float>(b + 1);
    }
    dp->gather_params();
    for (int k = 0; k < m.size(); ++k)
      for (std::int64_t j = 0; j < m.values[static_cast<std::size_t>(k)].numel(); ++j)
        ASSERT_EQ(m.values[static_cast<std::size_t>(k)].data<float>()[j],
                  init_value(k, j) + 0.5f * static_cast<float>(dp->slot(k).bucket + 1))
            << "ZeRO-" << zero << " tensor " << k << " element " << j;
  }
}

// Checkpoint state written under one stage reads back under every other, exactly.
TEST(DataParallel, FullStateCrossesStagesExactly) {
  auto pattern = [](int which, int k, std::int64_t j) {
    return 0.125f * static_cast<float>((which * 7 + k * 3 + j) % 29) + static_cast<float>(which);
  };
  std::vector<std::vector<std::vector<float>>> saved(4);
  for (int zero = 0; zero <= 3; ++zero) {
    Model m;
    auto dp = make_dp(m, zero);
    for (int k = 0; k < m.size(); ++k) {
      Tensor t[3];
      for (int w = 0; w < 3; ++w) {
        t[w] = Tensor::empty(m.shapes[static_cast<std::size_t>(k)]);
        for (std::int64_t j = 0; j < t[w].numel(); ++j) t[w].data<float>()[j] = pattern(w, k, j);
      }
      dp->load_full_state(k, t[0], t[1], t[2]);
    }
    dp->for_each_full_state([&](int k, const Tensor& value, const Tensor& mo, const Tensor& vo) {
      EXPECT_EQ(value.shape(), m.shapes[static_cast<std::size_t>(k)]);
      const Tensor* got[3] = {&value, &mo, &vo};
      for (int w = 0; w < 3; ++w)
        for (std::int64_t j = 0; j < got[w]->numel(); ++j)
          ASSERT_EQ(got[w]->data<float>()[j], pattern(w, k, j)) << "ZeRO-" << zero << " tensor " << k << " part " << w;
    });
  }
}

// ---- DistributedAdamW ---------------------------------------------------------------------------

struct AdamRef {  // the update in double, as the op table does it in f32
  double m = 0, v = 0;
  double step(double p, double g, int t, double lr, double wd, const AdamWConfig& c) {
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    const double mhat = m / (1 - std::pow(c.beta1, t)), vhat = v / (1 - std::pow(c.beta2, t));
    return p - lr * (mhat / (std::sqrt(vhat) + c.eps) + wd * p);
  }
};

std::vector<OptimizerTensorInfo> tensor_info(const Model& m) {
  std::vector<OptimizerTensorInfo> info;
  for (int k = 0; k < m.size(); ++k) info.push_back({m.shapes[static_cast<std::size_t>(k)].ndim() == 2, k != 2});
  return info;
}

TEST(DistributedAdamW, EveryStageMatchesTheReference) {
  AdamWConfig c;
  c.grad_clip = 0.0;  // compared without clipping here (see the clip test)
  const double lr = 0.01;
  for (int zero = 0; zero <= 3; ++zero) {
    Model m;
    const std::vector<OptimizerTensorInfo> info = tensor_info(m);
    auto dp = make_dp(m, zero);
    DistributedAdamW adam(*dp, info, &test_world(), c);
    std::vector<std::vector<double>> p(static_cast<std::size_t>(m.size()));
    std::vector<std::vector<AdamRef>> ref(static_cast<std::size_t>(m.size()));
    for (int k = 0; k < m.size(); ++k)
      for (std::int64_t j = 0; j < m.shapes[static_cast<std::size_t>(k)].numel(); ++j) {
        p[static_cast<std::size_t>(k)].push_back(init_value(k, j));
        ref[static_cast<std::size_t>(k)].emplace_back();
      }
    for (int t = 1; t <= 3; ++t) {
      dp->zero_grads();
      run_backward(*dp, m, 2);
      const OptimizerStepResult r = adam.step(lr, true);
      EXPECT_FALSE(r.skipped);
      for (int k = 0; k < m.size(); ++k)
        for (std::size_t j = 0; j < p[static_cast<std::size_t>(k)].size(); ++j)
          p[static_cast<std::size_t>(k)][j] = ref[static_cast<std::size_t>(k)][j].step(
              p[static_cast<std::size_t>(k)][j], averaged(2, k, static_cast<std::int64_t>(j)), t, lr,
              info[static_cast<std::size_t>(k)].weight_decay ? c.weight_decay : 0.0, c);
    }
    EXPECT_EQ(adam.steps_taken(), 3);
    dp->for_each_full_state([&](int k, const Tensor& value, const Tensor& mo, const Tensor&) {
      for (std::int64_t j = 0; j < value.numel(); ++j) {
        const double want = p[static_cast<std::size_t>(k)][static_cast<std::size_t>(j)];
        ASSERT_NEAR(value.data<float>()[j], want, 2e-6 * std::max(1.0, std::abs(want)))
            << "ZeRO-" << zero << " tensor " << k << " element " << j;
        ASSERT_NEAR(mo.data<float>()[j], ref[static_cast<std::size_t>(k)][static_cast<std::size_t>(j)].m, 1e-5);
      }
    });
  }
}

TEST(DistributedAdamW, GlobalNormCountsEveryTensorOnceAndClips) {
  for (int zero = 0; zero <= 3; ++zero) {
    Model m;
    const std::vector<OptimizerTensorInfo> info = tensor_info(m);  // tensor 2 is not counted
    auto dp = make_dp(m, zero);
    AdamWConfig c;
    c.grad_clip = 1.0;
    DistributedAdamW adam(*dp, info, &test_world(), c);
    dp->zero_grads();
    run_backward(*dp, m, 1);
    double sum = 0;
    for (int k = 0; k < m.size(); ++k)
      if (info[static_cast<std::size_t>(k)].count_in_norm)
        for (std::int64_t j = 0; j < m.shapes[static_cast<std::size_t>(k)].numel(); ++j) sum += std::pow(averaged(1, k, j), 2);
    const double want = std::sqrt(sum);
    EXPECT_NEAR(adam.grad_norm(), want, 1e-5 * want) << "ZeRO-" << zero;
    const OptimizerStepResult r = adam.step(0.01, true);
    EXPECT_NEAR(r.grad_norm, want, 1e-5 * want);
    EXPECT_NEAR(r.clip_scale, 1.0 / (want + 1e-6), 1e-9) << "the norm (" << want << ") exceeds grad_clip = 1";
    // The first moment saw the clipped gradient: m = (1 - β1)·g·scale.
    dp->for_each_full_state([&](int k, const Tensor&, const Tensor& mo, const Tensor&) {
      for (std::int64_t j = 0; j < mo.numel(); ++j)
        ASSERT_NEAR(mo.data<float>()[j], (1 - c.beta1) * averaged(1, k, j) * r.clip_scale, 1e-6)
            << "ZeRO-" << zero << " tensor " << k;
    });
  }
}

TEST(DistributedAdamW, NonFiniteLossOrGradientSkipsTheStepEverywhere) {
  for (int zero : {0, 3}) {
    Model m;
    auto dp = make_dp(m, zero);
    DistributedAdamW adam(*dp, tensor_info(m), &test_world(), AdamWConfig{});
    dp->zero_grads();
    run_backward(*dp, m, 1);
    OptimizerStepResult r = adam.step(0.01, /*loss_is_finite=*/false);
    EXPECT_TRUE(r.skipped);
    EXPECT_EQ(adam.steps_taken(), 0);
    // A non-finite gradient on rank 0 alone skips the step on every rank.
    if (world_rank() == 0) dp->grad_shard(0).data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
    r = adam.step(0.01, true);
    EXPECT_TRUE(r.skipped) << "ZeRO-" << zero << " rank " << world_rank();
    EXPECT_EQ(adam.steps_taken(), 0);
    dp->for_each_full_state([&](int k, const Tensor& value, const Tensor& mo, const Tensor&) {
      for (std::int64_t j = 0; j < value.numel(); ++j) {
        ASSERT_EQ(value.data<float>()[j], init_value(k, j)) << "a skipped step changes no parameter";
        ASSERT_EQ(mo.data<float>()[j], 0.0f) << "nor a moment";
      }
    });
  }
}

// ---- learning rate ------------------------------------------------------------------------------

TEST(LearningRate, WarmsUpLinearlyThenDecaysByCosineToTheFloor) {
  const double max_lr = 1e-3, min_lr = 1e-4;
  EXPECT_DOUBLE_EQ(learning_rate(0, 10, 110, max_lr, min_lr), max_lr / 10);
  EXPECT_DOUBLE_EQ(learning_rate(4, 10, 110, max_lr, min_lr), max_lr * 5 / 10);
  EXPECT_DOUBLE_EQ(learning_rate(9, 10, 110, max_lr, min_lr), max_lr);
  EXPECT_DOUBLE_EQ(learning_rate(10, 10, 110, max_lr, min_lr), max_lr) << "the cosine starts at the peak";
  EXPECT_NEAR(learning_rate(60, 10, 110, max_lr, min_lr), (max_lr + min_lr) / 2, 1e-15) << "halfway";
  EXPECT_NEAR(learning_rate(35, 10, 110, max_lr, min_lr),
              min_lr + 0.5 * (1 + std::cos(std::numbers::pi * 0.25)) * (max_lr - min_lr), 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate(110, 10, 110, max_lr, min_lr), min_lr);
  EXPECT_DOUBLE_EQ(learning_rate(500, 10, 110, max_lr, min_lr), min_lr) << "stays at the floor past the end";
  for (std::int64_t s = 10; s < 110; ++s)
    EXPECT_LE(learning_rate(s + 1, 10, 110, max_lr, min_lr), learning_rate(s, 10, 110, max_lr, min_lr)) << s;
  EXPECT_DOUBLE_EQ(learning_rate(3, 0, 100, max_lr, min_lr), min_lr + 0.5 * (1 + std::cos(std::numbers::pi * 0.03)) * (max_lr - min_lr))
      << "no warm-up";
  EXPECT_DOUBLE_EQ(learning_rate(20, 10, 10, max_lr, min_lr), max_lr) << "a run no longer than its warm-up keeps the peak";
}

}  // namespace
}  // namespace trident
