// The resolved plan: typed values from a config, every value explicit in config.json (to_json of
// the plan reads back to the same plan), the chunk split, the hash sweeps and ranks key on.
#include <gtest/gtest.h>

#include "core/error.h"
#include "experiments/plan/plan.h"
#include "schedules/generators.h"

namespace trident {
namespace {

using json = nlohmann::json;

TrainPlan plan_of(const std::vector<std::string>& sets) { return resolve_plan(read_train_config(json::object(), sets)); }

std::string error_of(const std::vector<std::string>& sets) {
  try {
    (void)plan_of(sets);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(TrainPlan, DefaultsResolveToTypedValues) {
  const TrainPlan p = plan_of({});
  EXPECT_EQ(p.mesh.dp(), 2);
  EXPECT_EQ(p.mesh.pp(), 2);
  EXPECT_EQ(p.mesh.tp(), 2);
  EXPECT_EQ(p.mesh.order(), "tp-pp-dp");
  EXPECT_EQ(p.schedule.name, "1f1b");
  EXPECT_EQ(p.schedule.pp, 2);
  EXPECT_EQ(p.micro_batches(), 4);
  EXPECT_FALSE(p.schedule.lowered());
  EXPECT_EQ(p.layers_per_chunk, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(p.tp.recompute, Recompute::kNone);
  EXPECT_FALSE(p.tp.sequence_parallel);
  EXPECT_TRUE(p.device.device.is_cpu());
  EXPECT_EQ(p.compute_dtype, DType::kF32);  // precision auto on the host
  EXPECT_EQ(p.comm, CommBackend::kAuto);
  EXPECT_EQ(p.world_size(), 8);
  EXPECT_EQ(p.samples_per_step(), 4 * 4 * 2);
  EXPECT_EQ(p.dp.bucket_bytes, 4u << 20);
}

TEST(TrainPlan, EnumsAndDevicesResolveOnce) {
  const TrainPlan gpu = plan_of({"device=cuda", "layout.recompute=selective", "comm=nccl"});
  EXPECT_TRUE(gpu.device.local_gpu);
  EXPECT_TRUE(gpu.device.is_cuda());
  EXPECT_EQ(gpu.compute_dtype, DType::kBF16);  // precision auto on a GPU: needs no GPU to resolve
  EXPECT_EQ(gpu.comm, CommBackend::kNccl);
  EXPECT_EQ(gpu.tp.recompute, Recompute::kSelective);
  const TrainPlan pinned = plan_of({"device=cuda:3", "precision=f32"});
  EXPECT_FALSE(pinned.device.local_gpu);
  EXPECT_EQ(pinned.device.device, Device::cuda(3));
  EXPECT_EQ(pinned.compute_dtype, DType::kF32);
}

TEST(TrainPlan, ChunkSplitIsExplicit) {
  // 5 blocks over pp 2 × v 2 interleaved chunks: the first chunk takes the extra block.
  const TrainPlan p = plan_of({"model.layers=5", "layout.schedule=interleaved", "layout.v=2"});
  EXPECT_EQ(p.schedule.num_chunks(), 4);
  EXPECT_EQ(p.layers_per_chunk, (std::vector<std::int64_t>{2, 1, 1, 1}));
  const TrainPlan given = plan_of({"layout.layers_per_chunk=[3,1]"});
  EXPECT_EQ(given.layers_per_chunk, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(split_layers(7, 3), (std::vector<std::int64_t>{3, 2, 2}));
}

TEST(TrainPlan, ConfigJsonReadsBackToTheSamePlan) {
  for (const auto& sets : std::vector<std::vector<std::string>>{
           {},
           {"layout.schedule=zb-h1", "layout.micro_batches=6", "optimizer.lr=3e-4", "layout.sequence_parallel=true"},
           {"device=cuda", "layout.dp=1", "layout.pp=4", "layout.tp=1", "layout.schedule=interleaved", "layout.v=2",
            "model.layers=8", "data.train=/x/train.bin"}}) {
    const TrainPlan p = plan_of(sets);
    const json written = to_json(p);
    const TrainPlan back = resolve_plan(read_train_config(written));
    EXPECT_EQ(to_json(back), written);
    EXPECT_EQ(plan_hash(back), plan_hash(p));
    // Everything is explicit: the split and the precision are written out, not left to defaults.
    EXPECT_EQ(written["layout"]["layers_per_chunk"].size(), static_cast<std::size_t>(p.schedule.num_chunks()));
    EXPECT_NE(written["precision"], "auto");
  }
  EXPECT_EQ(to_json(plan_of({"data.train=/data/t.bin"}))["data"]["train"], "/data/t.bin");
}

TEST(TrainPlan, HashChangesWithTheExperiment) {
  EXPECT_EQ(plan_hash(plan_of({})), plan_hash(plan_of({})));
  EXPECT_EQ(plan_hash(plan_of({})).size(), 16u);
  EXPECT_NE(plan_hash(plan_of({})), plan_hash(plan_of({"layout.micro_batches=8"})));
  EXPECT_NE(plan_hash(plan_of({})), plan_hash(plan_of({"optimizer.lr=2e-3"})));
}

TEST(TrainPlan, NeedsNoFilesButTheScheduleFile) {
  // Data and resume paths are the run's business: a plan resolves without them (simulations).
  EXPECT_NO_THROW(plan_of({"data.train=/no/such/file.bin", "resume=/no/such/dir"}));
  EXPECT_NE(error_of({"layout.schedule_file=/no/such/schedule.txt"}).find("layout.schedule_file"), std::string::npos);
  EXPECT_NE(error_of({"layout.tp=3"}).find("model.heads 4 is not divisible by layout.tp 3"), std::string::npos);
}

}  // namespace
}  // namespace trident
