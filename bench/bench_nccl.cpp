// Bandwidth of the NCCL communicator in nccl-tests terms, per mesh axis. One rank per GPU:
//   mpirun -np 8 build/bench/bench_nccl --tp 2 --pp 2 --dp 2      (a 3D mesh: each axis's groups)
//   mpirun -np 4 build/bench/bench_nccl                           (the world as one group)
// For every axis with more than one rank, and sizes 1 KiB .. 256 MiB (x4 steps): all_reduce,
// all_gather, reduce_scatter and send_recv (every rank sends to its next ring neighbour while it
// receives from its previous one, over the ring channels of connect_ring_neighbors). All groups of
// an axis run at once, as in training.
// Counters (rank 0 prints them), GB/s, with n the group size:
//   algbw = bytes / time; bytes is the whole buffer: all_reduce's tensor, all_gather's output,
//           reduce_scatter's input, one message for send_recv
//   busbw = algbw x 2(n-1)/n (all_reduce), x (n-1)/n (all_gather, reduce_scatter), x 1 (send_recv):
//           nccl-tests' factors, comparable to the links' bandwidth whatever n is
// Time: cudaEvents on the compute stream around a batch of operations (each blocking call orders
// the compute stream after the communication stream), divided by the batch; each iteration's time is
// the slowest rank's. f32 payloads. Without a CUDA build, GPUs, or a GPU per local rank, one entry
// reports why and nothing is measured.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/mpi_bench.h"
#include "core/device.h"
#include "parallel/comm_checks.h"
#include "parallel/comm_factory.h"
#include "parallel/communicator.h"
#include "parallel/device_mesh.h"
#include "parallel/mesh_layout.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#endif

namespace {

using trident::Communicator;
using trident::DType;
using trident::Request;
using trident::Tensor;

// --tp/--pp/--dp N (or =N), taken out of argv before MPI and Google Benchmark see it.
struct MeshFlags {
  int tp = 1, pp = 1, dp = 1;
  bool given = false;
};

MeshFlags take_mesh_flags(int& argc, char** argv) {
  MeshFlags flags;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    int* target = nullptr;
    std::string value;
    for (auto [name, field] :
         {std::pair{"--tp", &flags.tp}, std::pair{"--pp", &flags.pp}, std::pair{"--dp", &flags.dp}}) {
      const std::string prefix = std::string(name) + "=";
      if (arg == name && i + 1 < argc) {
        target = field;
        value = argv[++i];
      } else if (arg.rfind(prefix, 0) == 0) {
        target = field;
        value = arg.substr(prefix.size());
      }
    }
    if (!target) {
      argv[kept++] = argv[i];
      continue;
    }
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || v < 1 || v > 1 << 16) {
      std::fprintf(stderr, "bench_nccl: '%s' needs a positive rank count, e.g. --tp 2\n", arg.c_str());
      std::exit(2);
    }
    *target = static_cast<int>(v);
    flags.given = true;
  }
  argc = kept;
  argv[argc] = nullptr;
  return flags;
}

MeshFlags g_flags;

#ifdef TRIDENT_HAVE_CUDA

enum class Op { kAllReduce, kAllGather, kReduceScatter, kSendRecv };

const char* op_name(Op op) {
  switch (op) {
    case Op::kAllReduce: return "all_reduce";
    case Op::kAllGather: return "all_gather";
    case Op::kReduceScatter: return "reduce_scatter";
    case Op::kSendRecv: return "send_recv";
  }
  return "?";
}

double bus_factor(Op op, int n) {
  switch (op) {
    case Op::kAllReduce: return 2.0 * (n - 1) / n;
    case Op::kAllGather:
    case Op::kReduceScatter: return static_cast<double>(n - 1) / n;
    case Op::kSendRecv: return 1.0;
  }
  return 1.0;
}

// Operations per timed batch: enough bytes per batch to hide the event overhead, few for big sizes.
int batch_for(std::int64_t bytes) {
  return static_cast<int>(std::clamp<std::int64_t>((std::int64_t{256} << 20) / bytes, 1, 20));
}

struct Bench {
  std::unique_ptr<Communicator> world;  // NCCL
  std::unique_ptr<trident::DeviceMesh> mesh;
  std::vector<std::pair<std::string, Communicator*>> axes;  // groups to measure, by axis name
  int device = 0;
};

Bench* g_bench = nullptr;

Tensor device_zeros(std::int64_t n, int device) {
  Tensor t = Tensor::empty({n}, DType::kF32, trident::Device::cuda(device));
  trident::CudaDeviceGuard guard(device);
  TRIDENT_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), trident::CudaContext::get(device).compute_stream()));
  return t;
}

void BM_Comm(benchmark::State& state, Communicator* group, Op op) {
  const int n = group->size();
  const int me = group->rank();
  const int device = g_bench->device;
  // Element counts: the whole buffer, rounded down to a multiple of n for the gather/scatter split.
  const std::int64_t total = state.range(0) / 4 / n * n;
  const std::int64_t bytes = total * 4;
  Tensor big = device_zeros(total, device);
  Tensor small = op == Op::kSendRecv ? Tensor() : device_zeros(total / n, device);
  Tensor other = op == Op::kSendRecv ? device_zeros(total, device) : Tensor();
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  const auto run_once = [&] {
    switch (op) {
      case Op::kAllReduce: group->all_reduce(big, trident::ReduceOp::kSum); break;
      case Op::kAllGather: group->all_gather(small, big); break;
      case Op::kReduceScatter: group->reduce_scatter(big, small, trident::ReduceOp::kSum); break;
      case Op::kSendRecv: {
        Request r = group->recv(other, prev, 0);
        Request s = group->send(big, next, 0);
        r.wait();
        s.wait();
        break;
      }
    }
  };

  trident::CudaDeviceGuard guard(device);
  const cudaStream_t compute = trident::CudaContext::get(device).compute_stream();
  run_once();  // warm-up: NCCL connects the peers on first use
  trident::stream_synchronize(compute);
  cudaEvent_t start = nullptr, stop = nullptr;
  TRIDENT_CUDA_CHECK(cudaEventCreate(&start));
  TRIDENT_CUDA_CHECK(cudaEventCreate(&stop));
  const int batch = batch_for(bytes);
  double seconds = 0.0;
  for (auto _ : state) {
    TRIDENT_CUDA_CHECK(cudaEventRecord(start, compute));
    for (int i = 0; i < batch; ++i) run_once();
    TRIDENT_CUDA_CHECK(cudaEventRecord(stop, compute));
    TRIDENT_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    TRIDENT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    const double t = trident::bench::max_over_ranks(static_cast<double>(ms) / 1e3 / batch);
    state.SetIterationTime(t);
    seconds += t;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  const double algbw = static_cast<double>(bytes) * static_cast<double>(state.iterations()) / seconds;
  state.counters["algbw"] = algbw / 1e9;
  state.counters["busbw"] = algbw * bus_factor(op, n) / 1e9;
  state.counters["ranks"] = n;
  state.SetLabel(trident::comm::format_bytes(static_cast<std::size_t>(bytes)));
}

#endif  // TRIDENT_HAVE_CUDA

void register_unavailable(const std::string& reason) {
  benchmark::RegisterBenchmark("nccl_unavailable", [reason](benchmark::State& state) {
    state.SkipWithError(("skipped: " + reason).c_str());
    for (auto _ : state) {
    }
  })->Iterations(1);
}

void register_benchmarks(Communicator& mpi_world) {
#ifdef TRIDENT_HAVE_CUDA
  static Bench bench;
  try {
    bench.device = trident::local_rank(mpi_world);
    bench.world = trident::make_device_world(mpi_world, trident::Device::cuda(bench.device), trident::CommBackend::kNccl);
    if (g_flags.given) {
      bench.mesh =
          std::make_unique<trident::DeviceMesh>(*bench.world, trident::MeshLayout(g_flags.dp, g_flags.pp, g_flags.tp));
      for (trident::MeshAxis axis :
           {trident::MeshAxis::kTensor, trident::MeshAxis::kPipeline, trident::MeshAxis::kData})
        bench.axes.emplace_back(std::string(trident::mesh_axis_name(axis)), &bench.mesh->group(axis));
    } else {
      bench.axes.emplace_back("world", bench.world.get());
    }
  } catch (const std::exception& e) {
    // make_device_world agrees over the world, so every rank lands here alike.
    register_unavailable(e.what());
    return;
  }
  g_bench = &bench;
  for (auto& [axis, group] : bench.axes) {
    if (group->size() < 2) continue;
    group->connect_ring_neighbors();  // collective over the group: same order on every rank
    for (Op op : {Op::kAllReduce, Op::kAllGather, Op::kReduceScatter, Op::kSendRecv}) {
      for (std::int64_t bytes = 1 << 10; bytes <= (std::int64_t{256} << 20); bytes *= 4) {
        Communicator* g = group;
        benchmark::RegisterBenchmark((axis + "/" + op_name(op)).c_str(),
                                     [g, op](benchmark::State& state) { BM_Comm(state, g, op); })
            ->Arg(bytes)
            ->Iterations(5)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  if (std::none_of(bench.axes.begin(), bench.axes.end(), [](const auto& a) { return a.second->size() > 1; }))
    register_unavailable("every group has one rank: run with mpirun -np 2 or more");
#else
  (void)mpi_world;
  register_unavailable("CPU-only build: bench_nccl measures the NCCL backend of a CUDA build");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  g_flags = take_mesh_flags(argc, argv);
  return trident::bench::run_mpi_benchmarks(argc, argv, "bench_nccl", register_benchmarks);
}
