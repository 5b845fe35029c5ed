// The NCCL communicator on real ranks (the MPI backend with GPU tensors and the backend choice are in
// test_device_world.cpp, same binary): it runs under mpirun -np 1, 2 and 4 (tests/CMakeLists.txt), adapts to the world size and checks results
// against values computed locally for every rank.
//
// Skips: the NCCL tests need a CUDA build and a GPU per local rank (NCCL refuses two ranks on one
// GPU): "needs N GPUs, found M". The MpiStaging tests need one GPU, which all ranks may share. The
// decision is agreed over the world (any rank lacking → every rank skips), so no rank is ever left
// alone in a collective. DeviceWorld tests run everywhere.
//
// Tolerances: every comparison is exact. Inputs are small integers or halves; sums over at most 4
// ranks stay below 2^7 with one fractional bit, so every partial sum, in any order, is exact in bf16
// (8 significant bits) and f32; kAvg divides by 1, 2 or 4 (a power of two: exact). Other world sizes
// get the rounding of 1/n: 2^-7 relative in bf16, 1e-6 in f32.
//
// Collectives are called unconditionally on every rank; checks use EXPECT, never an early return
// between collectives.
#include "tests/gpu/comm_test_util.h"

namespace trident {
namespace {

using namespace comm_test;

const GpuSetup& nccl_setup() {
  static const GpuSetup setup = [] {
    const int local = local_rank(test_world());
    const int locals = local_size(test_world());
    std::string reason = no_gpu_reason();
    if (reason.empty() && cuda_probe().device_count < locals)
      reason = "needs " + std::to_string(locals) + " GPUs (one per local rank; NCCL refuses two ranks on one GPU), " +
               "found " + std::to_string(cuda_probe().device_count);
    return agree(reason, local);
  }();
  return setup;
}

// MPI staging: any GPU, shared by the ranks of a node.
#define REQUIRE_NCCL()                                                                     \
  do {                                                                                     \
    if (!nccl_setup().skip_reason.empty())                                                 \
      GTEST_SKIP() << "NCCL test skipped: " << nccl_setup().skip_reason;                   \
  } while (0)

Device nccl_device() { return Device::cuda(nccl_setup().device); }

// The NCCL world, made by the first NCCL test to run (every rank runs the same tests in order), and
// torn down after the last one while MPI still runs (every rank at once), not at static destruction.
std::unique_ptr<Communicator>& nccl_world_slot() {
  static std::unique_ptr<Communicator> world;
  return world;
}

Communicator& nccl_world() {
  std::unique_ptr<Communicator>& world = nccl_world_slot();
  if (!world) world = make_device_world(test_world(), nccl_device(), CommBackend::kNccl);
  return *world;
}

class NcclWorldTeardown : public testing::Environment {
 public:
  void TearDown() override { nccl_world_slot().reset(); }
};
[[maybe_unused]] testing::Environment* const nccl_world_teardown =
    testing::AddGlobalTestEnvironment(new NcclWorldTeardown);

// ---- NCCL: collectives --------------------------------------------------------------------------

TEST(NcclCommunicator, WorldBasics) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  EXPECT_EQ(world.backend(), "nccl");
  EXPECT_EQ(world.name(), "world");
  EXPECT_EQ(world.size(), world_size());
  EXPECT_EQ(world.rank(), world_rank());
  EXPECT_EQ(world.timeout(), test_world().timeout());
}

TEST(NcclCommunicator, AllReduceEveryDtypeAndOp) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  for (DType dtype : kDtypes) {
    for (ReduceOp op : kOps) {
      for (std::int64_t count : kSizes) {
        const std::string what = "all_reduce " + label(dtype, op, count);
        const auto in = input_of(dtype, op);
        Tensor x = make(count, dtype, nccl_device(), [&](std::int64_t i) { return in(me, i); });
        if (dtype == DType::kI32 && op == ReduceOp::kAvg) {
          const std::string message = error_of([&] { world.all_reduce(x, op); });
          EXPECT_TRUE(contains(message, "kAvg is not defined for i32")) << message;
          EXPECT_TRUE(contains(message, "all_reduce of " + std::to_string(count) + " i32")) << message;
          continue;
        }
        world.all_reduce(x, op);
        expect_values(x, reduced(dtype, op, n), what, op == ReduceOp::kAvg ? avg_tolerance(dtype, n) : 0.0);
      }
    }
  }
}

TEST(NcclCommunicator, AllReduceAsyncOverlapsAndCompletes) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  Tensor a = make(100000, DType::kBF16, nccl_device(), [&](std::int64_t i) { return f(me, i); });
  Tensor b = make(5000, DType::kF32, nccl_device(), [&](std::int64_t i) { return g(me, i); });
  Request ra = world.all_reduce_async(a, ReduceOp::kSum);
  Request rb = world.all_reduce_async(b, ReduceOp::kMax);
  // test() polls the completion event: it turns true without anyone calling wait().
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool done = false;
  while (!(done = rb.test()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_TRUE(done);
  ra.wait();
  rb.wait();
  expect_values(a, reduced(DType::kBF16, ReduceOp::kSum, n), "async bf16 sum");
  expect_values(b, reduced(DType::kF32, ReduceOp::kMax, n), "async f32 max");
  // A request of zero elements is complete at once.
  Request empty = world.all_reduce_async(Tensor::empty({0}, DType::kF32, nccl_device()), ReduceOp::kSum);
  EXPECT_TRUE(empty.test());
  empty.wait();
}

TEST(NcclCommunicator, AllGatherEveryDtypeAndInPlace) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  for (DType dtype : kDtypes) {
    for (std::int64_t count : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{65537}}) {
      const auto in_value = [&](int r, std::int64_t i) { return dtype == DType::kI32 ? h(r, i) : f(r, i); };
      const auto expected = [&](std::int64_t j) { return in_value(static_cast<int>(j / count), j % count); };
      Tensor in = make(count, dtype, nccl_device(), [&](std::int64_t i) { return in_value(me, i); });
      Tensor out = Tensor::empty({n * count}, dtype, nccl_device());
      world.all_gather(in, out);
      expect_values(out, expected, "all_gather " + std::string(dtype_name(dtype)) + " n=" + std::to_string(count));

      // In place: `in` is this rank's slot of `out`.
      Tensor whole = make(n * count, dtype, nccl_device(),
                          [&](std::int64_t j) { return j / count == me ? in_value(me, j % count) : -7.0; });
      world.all_gather(whole.slice0(me * count, (me + 1) * count), whole);
      expect_values(whole, expected, "in-place all_gather " + std::string(dtype_name(dtype)));
    }
  }
}

TEST(NcclCommunicator, ReduceScatterEveryDtypeAndOpAndAsync) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  for (DType dtype : kDtypes) {
    for (ReduceOp op : kOps) {
      if (dtype == DType::kI32 && op == ReduceOp::kAvg) continue;  // rejected; see AllReduceEveryDtypeAndOp
      for (std::int64_t count : {std::int64_t{1}, std::int64_t{4099}}) {
        const auto in = input_of(dtype, op);
        Tensor full = make(n * count, dtype, nccl_device(), [&](std::int64_t j) { return in(me, j); });
        Tensor out = Tensor::empty({count}, dtype, nccl_device());
        const double tol = op == ReduceOp::kAvg ? avg_tolerance(dtype, n) : 0.0;
        world.reduce_scatter(full, out, op);
        expect_values(out, reduced(dtype, op, n, me * count), "reduce_scatter " + label(dtype, op, count), tol);
        Tensor out_async = Tensor::empty({count}, dtype, nccl_device());
        Request r = world.reduce_scatter_async(full, out_async, op);
        r.wait();
        expect_values(out_async, reduced(dtype, op, n, me * count), "reduce_scatter_async " + label(dtype, op, count),
                      tol);
      }
    }
  }
}

TEST(NcclCommunicator, BroadcastFromEveryRoot) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  for (DType dtype : kDtypes) {
    for (int root = 0; root < n; ++root) {
      Tensor x = make(3001, dtype, nccl_device(), [&](std::int64_t i) { return me == root ? g(root, i) : -99.0; });
      world.broadcast(x, root);
      expect_values(x, [&](std::int64_t i) { return g(root, i); },
                    "broadcast " + std::string(dtype_name(dtype)) + " from " + std::to_string(root));
    }
  }
}

TEST(NcclCommunicator, BadArgumentsGiveTheMpiBackendsMessages) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int n = world_size();
  const Device d = nccl_device();
  Tensor in = Tensor::empty({3}, DType::kF32, d);
  const std::string gather = error_of([&] { world.all_gather(in, Tensor::empty({3 * n + 1}, DType::kF32, d)); });
  EXPECT_TRUE(contains(gather, "all_gather of 3 f32")) << gather;
  EXPECT_TRUE(contains(gather, "needs size*in = " + std::to_string(n) + "*3")) << gather;
  EXPECT_TRUE(contains(gather, "communicator 'world'")) << gather;
  const std::string dtype = error_of([&] { world.all_gather(in, Tensor::empty({3 * n}, DType::kI32, d)); });
  EXPECT_TRUE(contains(dtype, "out is i32 but in is f32")) << dtype;
  const std::string scatter = error_of(
      [&] { world.reduce_scatter(Tensor::empty({3 * n + 2}, DType::kF32, d), Tensor::empty({3}, DType::kF32, d),
                                 ReduceOp::kSum); });
  EXPECT_TRUE(contains(scatter, "needs size*out = " + std::to_string(n) + "*3")) << scatter;
  const std::string host = error_of([&] { world.all_reduce(Tensor::empty({4}), ReduceOp::kSum); });
  EXPECT_TRUE(contains(host, "is on cpu")) << host;
  EXPECT_TRUE(contains(host, "comm = \"mpi\"")) << host;
  const std::string root = error_of([&] { world.broadcast(in, n); });
  EXPECT_TRUE(contains(root, "root must be in [0, " + std::to_string(n) + ")")) << root;
  const std::string peer = error_of([&] { world.send(in, n, 0); });
  EXPECT_TRUE(contains(peer, "the peer must be a rank in [0, " + std::to_string(n) + ")")) << peer;
  const std::string tag = error_of([&] { world.recv(in, 0, -1); });
  EXPECT_TRUE(contains(tag, "the tag must be >= 0")) << tag;
}

// ---- NCCL: groups and point-to-point ------------------------------------------------------------

TEST(NcclCommunicator, SplitOrdersByKeyAndNoColorGetsNothing) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  // Same parity, ordered by key = -rank: the group rank of r counts its same-parity ranks above it.
  std::unique_ptr<Communicator> parity = world.split(me % 2, -me, "parity");
  ASSERT_NE(parity, nullptr);
  std::vector<int> members;
  for (int r = n - 1; r >= 0; --r)
    if (r % 2 == me % 2) members.push_back(r);
  EXPECT_EQ(parity->name(), "parity");
  EXPECT_EQ(parity->backend(), "nccl");
  EXPECT_EQ(parity->size(), static_cast<int>(members.size()));
  EXPECT_EQ(parity->rank(), static_cast<int>(std::find(members.begin(), members.end(), me) - members.begin()));
  Tensor x = make(777, DType::kF32, nccl_device(), [&](std::int64_t i) { return f(me, i); });
  parity->all_reduce(x, ReduceOp::kSum);
  expect_values(x, [&](std::int64_t i) {
    double s = 0;
    for (int r : members) s += f(r, i);
    return s;
  }, "all_reduce in the parity group");

  // Rank 0 takes no color; the others form one group in rank order.
  std::unique_ptr<Communicator> rest = world.split(me == 0 ? -1 : 0, me, "rest");
  EXPECT_EQ(rest == nullptr, me == 0);
  if (rest) {
    EXPECT_EQ(rest->size(), n - 1);
    EXPECT_EQ(rest->rank(), me - 1);
    Tensor one = make(1, DType::kI32, nccl_device(), [&](std::int64_t) { return me; });
    rest->all_reduce(one, ReduceOp::kMax);
    expect_values(one, [&](std::int64_t) { return n - 1; }, "max over the rest");
  }
  world.barrier();
}

// The pipeline's pattern: every receive from both neighbours is posted before any send, for several
// micro-batches in a row. Without one channel per neighbour and direction, the first receive would
// hold back the sends it waits for.
TEST(NcclCommunicator, RingNeighboursWithReceivesPostedFirst) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  std::unique_ptr<Communicator> pp = world.split(0, me, "pp");
  pp->connect_ring_neighbors();
  pp->connect_ring_neighbors();  // a second call changes nothing
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  constexpr int kMicroBatches = 3;
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    const auto value = [](int from, int to, int mb, std::int64_t i) {
      return static_cast<double>(from * 16 + to * 4 + mb) + static_cast<double>(i % 7) * 0.5;
    };
    std::vector<Tensor> from_prev, from_next, to_next, to_prev;
    std::vector<Request> requests;
    for (int mb = 0; mb < kMicroBatches; ++mb) {
      from_prev.push_back(Tensor::empty({4096}, dtype, nccl_device()));
      from_next.push_back(Tensor::empty({4096}, dtype, nccl_device()));
      requests.push_back(pp->recv(from_prev.back(), prev, /*tag=*/mb));
      requests.push_back(pp->recv(from_next.back(), next, /*tag=*/100 + mb));
    }
    for (int mb = 0; mb < kMicroBatches; ++mb) {
      to_next.push_back(make(4096, dtype, nccl_device(), [&](std::int64_t i) { return value(me, next, mb, i); }));
      to_prev.push_back(make(4096, dtype, nccl_device(), [&](std::int64_t i) { return value(me, prev, mb, i); }));
      requests.push_back(pp->send(to_next.back(), next, mb));
      requests.push_back(pp->send(to_prev.back(), prev, 100 + mb));
    }
    wait_all(requests);
    for (int mb = 0; mb < kMicroBatches; ++mb) {
      expect_values(from_prev[mb], [&](std::int64_t i) { return value(prev, me, mb, i); },
                    "from prev, mb " + std::to_string(mb) + " " + std::string(dtype_name(dtype)));
      expect_values(from_next[mb], [&](std::int64_t i) { return value(next, me, mb, i); },
                    "from next, mb " + std::to_string(mb) + " " + std::string(dtype_name(dtype)));
    }
  }
  // The channels do not disturb the group's own collectives.
  Tensor x = make(10, DType::kF32, nccl_device(), [&](std::int64_t i) { return f(me, i); });
  pp->all_reduce(x, ReduceOp::kSum);
  expect_values(x, reduced(DType::kF32, ReduceOp::kSum, n), "all_reduce after ring traffic");
}

// Peers that are not ring neighbours go through the group's own communicator, in issue order:
// within each pair the lower rank sends first and the higher one receives first.
TEST(NcclCommunicator, PointToPointBeyondTheRing) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank(), n = world_size();
  world.connect_ring_neighbors();
  // Four ranks or more: rank ^ 2 is two steps around the ring (not a neighbour). Two or three: the
  // pairs (0, 1) go through their channels with the same blocking pattern. A rank without a partner
  // only joins the barrier.
  const int partner = n >= 4 ? (me ^ 2) : (me ^ 1);
  const int peer = partner < n ? partner : me;
  Tensor mine = make(999, DType::kBF16, nccl_device(), [&](std::int64_t i) { return me * 8 + (i % 5); });
  Tensor got = Tensor::empty({999}, DType::kBF16, nccl_device());
  if (peer != me) {
    if (me < peer) {
      world.send(mine, peer, 0).wait();
      world.recv(got, peer, 0).wait();
    } else {
      world.recv(got, peer, 0).wait();
      world.send(mine, peer, 0).wait();
    }
    expect_values(got, [&](std::int64_t i) { return peer * 8 + (i % 5); },
                  "transfer with rank " + std::to_string(peer));
  }
  world.barrier();
}

TEST(NcclCommunicator, TransfersToSelfMatchInPostingOrder) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank();
  std::unique_ptr<Communicator> alone = world.split(me, 0, "alone");  // a group of one per rank
  ASSERT_EQ(alone->size(), 1);
  alone->connect_ring_neighbors();
  Tensor a = make(300, DType::kF32, nccl_device(), [](std::int64_t i) { return i; });
  Tensor b = make(300, DType::kF32, nccl_device(), [](std::int64_t i) { return -i; });
  Tensor got_a = Tensor::empty({300}, DType::kF32, nccl_device());
  Tensor got_b = Tensor::empty({300}, DType::kF32, nccl_device());
  std::vector<Request> requests;
  requests.push_back(alone->recv(got_a, 0, 0));  // receives first, as the pipeline posts them
  requests.push_back(alone->recv(got_b, 0, 0));
  requests.push_back(alone->send(a, 0, 0));
  requests.push_back(alone->send(b, 0, 0));
  wait_all(requests);
  expect_values(got_a, [](std::int64_t i) { return static_cast<double>(i); }, "first transfer to self");
  expect_values(got_b, [](std::int64_t i) { return -static_cast<double>(i); }, "second transfer to self");
  // Waiting on a receive whose send was never posted can never finish: it says so at once.
  Request lonely = alone->recv(Tensor::empty({4}, DType::kF32, nccl_device()), 0, 0);
  EXPECT_FALSE(lonely.test());
  std::string message;
  try {
    lonely.wait();
  } catch (const CommTimeout& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "before the matching send")) << message;
  EXPECT_TRUE(contains(message, "'alone'")) << message;
  alone->send(make(4, DType::kF32, nccl_device(), [](std::int64_t) { return 5.0; }), 0, 0).wait();
  EXPECT_NO_THROW(lonely.wait());  // the late send matched it
  world.barrier();
}

TEST(NcclCommunicator, BusySecondsCountDeviceTimeOfTheGroup) {
  REQUIRE_NCCL();
  Communicator& world = nccl_world();
  const int me = world_rank();
  std::unique_ptr<Communicator> dp = world.split(0, me, "dp");
  dp->reset_busy_seconds();
  EXPECT_EQ(dp->busy_seconds(), 0.0);
  Tensor x = make(1 << 22, DType::kBF16, nccl_device(), [](std::int64_t) { return 1.0; });
  for (int i = 0; i < 3; ++i) dp->all_reduce(x, ReduceOp::kMax);
  dp->barrier();  // completion observed: everything before it is counted
  EXPECT_GT(dp->busy_seconds(), 0.0);
  EXPECT_LT(dp->busy_seconds(), 60.0);
  const double after_collectives = dp->busy_seconds();
  // Ring traffic counts towards the group too.
  dp->connect_ring_neighbors();
  const int n = dp->size(), next = (me + 1) % n, prev = (me + n - 1) % n;
  Tensor in = Tensor::empty({1 << 20}, DType::kF32, nccl_device());
  Request r = dp->recv(in, prev, 0);
  Request s = dp->send(make(1 << 20, DType::kF32, nccl_device(), [](std::int64_t) { return 2.0; }), next, 0);
  r.wait();
  s.wait();
  dp->barrier();
  EXPECT_GT(dp->busy_seconds(), after_collectives);
  // The world's counter is its own (the barrier first accounts the world's earlier work).
  world.barrier();
  world.reset_busy_seconds();
  dp->all_reduce(x, ReduceOp::kMax);
  dp->barrier();
  EXPECT_EQ(world.busy_seconds(), 0.0);
}

TEST(NcclCommunicator, AutoPicksNcclWithAGpuPerRank) {
  REQUIRE_NCCL();
  std::unique_ptr<Communicator> world = make_device_world(test_world(), nccl_device(), CommBackend::kAuto);
  EXPECT_EQ(world->backend(), "nccl");
  Tensor x = make(5, DType::kI32, nccl_device(), [&](std::int64_t) { return world_rank(); });
  world->all_reduce(x, ReduceOp::kSum);
  expect_values(x, [&](std::int64_t) { return world_size() * (world_size() - 1) / 2.0; }, "sum of ranks");
}

// ---- the watchdog (its own CTest entry, 2 ranks: it ends the job) ------------------------------

// Rank 1 never joins rank 0's all-reduce. Rank 0's watchdog must end the job after the group's
// 3 s timeout with a message naming the group and the operation (CTest matches it). Disabled in
// ordinary runs; the entry runs it with --gtest_also_run_disabled_tests.
TEST(NcclWatchdog, DISABLED_PeerNeverJoinsAllReduce) {
  REQUIRE_NCCL();
  if (world_size() != 2) GTEST_SKIP() << "runs on exactly two ranks";
  std::unique_ptr<Communicator> group = nccl_world().split(0, world_rank(), "stuck-group");
  group->set_timeout(std::chrono::seconds(3));
  Tensor x = make(1024, DType::kF32, nccl_device(), [](std::int64_t) { return 1.0; });
  if (world_rank() == 0) group->all_reduce(x, ReduceOp::kSum);
  std::this_thread::sleep_for(std::chrono::seconds(40));
  ADD_FAILURE() << "the NCCL watchdog did not end the job within 40 s of a 3 s timeout";
}

}  // namespace
}  // namespace trident
