// The MPI backend with GPU tensors (pinned host staging; every rank may share one GPU) and the
// choice of the device world's backend, on real ranks under mpirun -np 1, 2 and 4. MpiStaging tests
// need one GPU (agreed over the world, so no rank is left alone in a collective); DeviceWorld tests
// run in every build. Comparisons are exact (see test_nccl_communicator.cpp).
#include "tests/gpu/comm_test_util.h"

namespace trident {
namespace {

using namespace comm_test;

const GpuSetup& staging_setup() {
  static const GpuSetup setup = [] {
    const std::string reason = no_gpu_reason();
    const int device = reason.empty() ? local_rank(test_world()) % cuda_probe().device_count : 0;
    return agree(reason, device);
  }();
  return setup;
}

#define REQUIRE_STAGING_GPU()                                                                           \
  do {                                                                                                  \
    if (!staging_setup().skip_reason.empty())                                                           \
      GTEST_SKIP() << "MPI staging test skipped: " << staging_setup().skip_reason;                      \
  } while (0)

// ---- MPI backend with GPU tensors (pinned host staging; ranks may share one GPU) -----------------

Device staging_device() { return Device::cuda(staging_setup().device); }

TEST(MpiStaging, CollectivesOnDeviceTensors) {
  REQUIRE_STAGING_GPU();
  Communicator& world = test_world();
  ASSERT_EQ(world.backend(), "mpi");
  const int me = world_rank(), n = world_size();
  const Device d = staging_device();
  for (ReduceOp op : kOps) {
    Tensor x = make(262147, DType::kF32, d, [&](std::int64_t i) { return input_of(DType::kF32, op)(me, i); });
    world.all_reduce(x, op);
    expect_values(x, reduced(DType::kF32, op, n), "staged all_reduce " + label(DType::kF32, op, 262147),
                  op == ReduceOp::kAvg ? avg_tolerance(DType::kF32, n) : 0.0);
  }
  Tensor ids = make(1000, DType::kI32, d, [&](std::int64_t i) { return h(me, i); });
  world.all_reduce(ids, ReduceOp::kSum);
  expect_values(ids, reduced(DType::kI32, ReduceOp::kSum, n), "staged i32 all_reduce");

  // bf16 moves (gather, broadcast) but is not reduced by MPI: same message as for host tensors.
  Tensor in = make(513, DType::kBF16, d, [&](std::int64_t i) { return f(me, i); });
  Tensor out = Tensor::empty({n * 513}, DType::kBF16, d);
  world.all_gather(in, out);
  expect_values(out, [&](std::int64_t j) { return f(static_cast<int>(j / 513), j % 513); }, "staged all_gather");
  Tensor whole = make(n * 7, DType::kF32, d, [&](std::int64_t j) { return j / 7 == me ? g(me, j % 7) : 0.0; });
  world.all_gather(whole.slice0(me * 7, (me + 1) * 7), whole);
  expect_values(whole, [&](std::int64_t j) { return g(static_cast<int>(j / 7), j % 7); }, "staged in-place all_gather");
  const std::string bf16_reduce = error_of([&] { world.all_reduce(in, ReduceOp::kSum); });
  EXPECT_TRUE(contains(bf16_reduce, "MPI backend reduces f32/i32 only")) << bf16_reduce;

  Tensor full = make(n * 100, DType::kF32, d, [&](std::int64_t j) { return f(me, j); });
  Tensor part = Tensor::empty({100}, DType::kF32, d);
  Request r = world.reduce_scatter_async(full, part, ReduceOp::kAvg);
  r.wait();
  expect_values(part, reduced(DType::kF32, ReduceOp::kAvg, n, me * 100), "staged reduce_scatter_async avg",
                avg_tolerance(DType::kF32, n));

  for (int root = 0; root < n; ++root) {
    Tensor b = make(64, DType::kBF16, d, [&](std::int64_t i) { return me == root ? g(root, i) : 0.0; });
    world.broadcast(b, root);
    expect_values(b, [&](std::int64_t i) { return g(root, i); }, "staged broadcast from " + std::to_string(root));
  }
}

TEST(MpiStaging, RingSendRecvAndAsyncAllReduce) {
  REQUIRE_STAGING_GPU();
  Communicator& world = test_world();
  const int me = world_rank(), n = world_size();
  const Device d = staging_device();
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  Tensor got = Tensor::empty({2048}, DType::kBF16, d);
  Request r = world.recv(got, prev, 4);
  Request s = world.send(make(2048, DType::kBF16, d, [&](std::int64_t i) { return me + (i % 3); }), next, 4);
  r.wait();
  s.wait();
  expect_values(got, [&](std::int64_t i) { return prev + (i % 3); }, "staged ring transfer");

  Tensor x = make(4096, DType::kF32, d, [&](std::int64_t i) { return f(me, i); });
  Request a = world.all_reduce_async(x, ReduceOp::kSum);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!a.test() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  a.wait();
  expect_values(x, reduced(DType::kF32, ReduceOp::kSum, n), "staged async all_reduce");
}

// ---- backend selection (runs in every build) ----------------------------------------------------

TEST(DeviceWorld, MpiAndAutoOnTheHost) {
  std::unique_ptr<Communicator> mpi = make_device_world(test_world(), Device::cpu(), CommBackend::kMpi);
  EXPECT_EQ(mpi->backend(), "mpi");
  EXPECT_EQ(mpi->name(), "world");
  EXPECT_EQ(mpi->size(), world_size());
  EXPECT_EQ(mpi->rank(), world_rank());
  EXPECT_EQ(mpi->timeout(), test_world().timeout());
  std::unique_ptr<Communicator> autod = make_device_world(test_world(), Device::cpu(), CommBackend::kAuto);
  EXPECT_EQ(autod->backend(), "mpi");
  Tensor x = Tensor::empty({1}, DType::kI32);
  x.data<std::int32_t>()[0] = 1;
  autod->all_reduce(x, ReduceOp::kSum);
  EXPECT_EQ(x.data<std::int32_t>()[0], world_size());
}

TEST(DeviceWorld, RefusalsNameTheConfigField) {
  const std::string cpu = error_of([] { make_device_world(test_world(), Device::cpu(), CommBackend::kNccl); });
  EXPECT_TRUE(contains(cpu, "comm = \"nccl\" needs device = \"cuda\"")) << cpu;
  const std::string bogus = error_of([] { make_device_world(test_world(), Device::cpu(), parse_comm_backend("gloo")); });
  EXPECT_TRUE(contains(bogus, "comm = \"gloo\" is not a communicator backend")) << bogus;
  if (!cuda_probe().built_with_cuda) {
    const std::string build = error_of([] { make_device_world(test_world(), Device::cuda(0), CommBackend::kNccl); });
    EXPECT_TRUE(contains(build, "needs a CUDA build")) << build;
  }
}

TEST(DeviceWorld, LocalRankAndSize) {
  const int local = local_rank(test_world());
  const int locals = local_size(test_world());
  EXPECT_GE(local, 0);
  EXPECT_LT(local, locals);
  EXPECT_LE(locals, world_size());
  // Exactly `locals` ranks of this node have distinct local ranks; at least one rank is local rank 0.
  EXPECT_FALSE(on_all_ranks(local != 0));
}

}  // namespace
}  // namespace trident
