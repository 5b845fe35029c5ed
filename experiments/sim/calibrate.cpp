#include "experiments/sim/calibrate.h"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "core/cpu/blas_threads.h"
#include "core/op_record.h"
#include "core/rng.h"
#include "experiments/sim/cost_model.h"
#include "layers/gpt_chunk.h"
#include "parallel/recording_communicator.h"

namespace trident {

namespace {

// Tag of rank 0's message that ends the thread speed-up measurement.
constexpr int kSpeedupDoneTag = 7101;

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Times every op of the CPU table as it runs, keyed by what it was (kind, shapes, bytes).
class TimingSink final : public OpSink, public CommSink {
 public:
  struct Samples {
    OpRecord op;
    std::vector<double> seconds;
  };
  void record(const OpRecord& op) override {
    current_ = op;
    start_ = Clock::now();
  }
  void finished() override {
    const double s = since(start_);
    if (!on_) return;
    Samples& slot = samples_[current_.str() + " " + std::to_string(current_.bytes)];
    slot.op = current_;
    slot.seconds.push_back(s);
    op_seconds_ += s;
    ++ops_;
  }
  void record(const CommRecord&) override {}  // standalone TP group: no data moves, nothing to time

  void enable(bool on) { on_ = on; }
  std::map<std::string, Samples>& samples() { return samples_; }
  double op_seconds() const { return op_seconds_; }
  long ops() const { return ops_; }

 private:
  std::map<std::string, Samples> samples_;
  OpRecord current_;
  Clock::time_point start_;
  bool on_ = false;
  double op_seconds_ = 0.0;
  long ops_ = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

Tensor tokens(std::int64_t batch, const GptConfig& c, std::uint64_t seed) {
  Tensor t = Tensor::empty({batch, c.seq_len}, DType::kI32);
  const std::uint64_t key = rng_key(seed, "calibrate");
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng_uniform(key, static_cast<std::uint64_t>(i)) * c.vocab);
  return t;
}

// The real chunk (the whole model) on the CPU, one TP rank of a standalone group of `tp`: forward,
// backward-input and backward-weight `repeats` times after one untimed round. Returns the wall time
// spent outside the ops (the framework's own cost) and adds the op count to `ops`.
double run_chunk(const GptConfig& model, int tp, bool sp, std::int64_t mbs, int repeats, TimingSink& sink,
                 long& ops) {
  RecordingCommunicator group("tp", tp, 0, sink);
  GptChunk chunk(model, ChunkLayout::whole(model), tp > 1 ? &group : nullptr, {sp, Recompute::kNone});
  const Tensor ids = tokens(mbs, model, 1), targets = tokens(mbs, model, 2);
  const ScopedOpRecording scope(Device::cpu(), sink);
  double outside = 0.0;
  for (int r = 0; r <= repeats; ++r) {
    sink.enable(r > 0);
    const double ops_before = sink.op_seconds();
    const long count_before = sink.ops();
    const Clock::time_point t0 = Clock::now();
    (void)chunk.forward(r, ids, targets, 1.0f);
    (void)chunk.backward_input(r);
    chunk.backward_weight(r);
    if (r > 0) {
      outside += std::max(0.0, since(t0) - (sink.op_seconds() - ops_before));
      ops += sink.ops() - count_before;
    }
  }
  sink.enable(false);
  return outside;
}

// GEMMs of a grid of shapes and transposes, beyond the models' own.
void run_gemm_grid(TimingSink& sink) {
  const ScopedOpRecording scope(Device::cpu(), sink);
  const Ops& ops = ops_for(Device::cpu());  // the recording table (taken inside the scope)
  const std::int64_t dims[] = {64, 256, 1024, 2048};
  for (std::int64_t m : dims)
    for (std::int64_t n : dims)
      for (std::int64_t k : dims) {
        if (m * n * k > (std::int64_t{1} << 31)) continue;
        for (const auto& [ta, tb] : {std::pair{false, false}, std::pair{false, true}, std::pair{true, false}}) {
          const Tensor a = Tensor::zeros(ta ? Shape{k, m} : Shape{m, k}), b = Tensor::zeros(tb ? Shape{n, k} : Shape{k, n});
          const Tensor c = Tensor::zeros({m, n});
          const int reps = std::clamp<int>(static_cast<int>(2e8 / (2.0 * m * n * k)), 2, 20);
          for (int r = 0; r <= reps; ++r) {
            sink.enable(r > 0);
            ops.gemm(ta, tb, 1.0f, a, b, 0.0f, c);
          }
        }
      }
  sink.enable(false);
}

// The optimizer's ops (and casts) on flat buffers of several sizes.
void run_flat_ops(TimingSink& sink) {
  const ScopedOpRecording scope(Device::cpu(), sink);
  const Ops& ops = ops_for(Device::cpu());  // the recording table (taken inside the scope)
  for (std::int64_t n : {std::int64_t{1} << 14, std::int64_t{1} << 18, std::int64_t{1} << 21, std::int64_t{1} << 24}) {
    const Tensor p = Tensor::zeros({n}), g = Tensor::zeros({n}), m = Tensor::zeros({n}), v = Tensor::zeros({n});
    const Tensor h = Tensor::zeros({n}, DType::kBF16);
    AdamWParams params;
    params.lr = 1e-3f;
    for (int r = 0; r <= 4; ++r) {
      sink.enable(r > 0);
      ops.adamw_update(p, g, m, v, params);
      (void)ops.sum_squares(g);
      ops.scale(g, 1.0f);
      ops.copy(g, m);
      ops.axpy(1.0f, g, m);
      ops.fill(g, 0.0f);
      ops.convert(p, h);
    }
  }
  sink.enable(false);
}

// Collective timings over the world, fitted to latency + factor · bytes / bus_bandwidth.
std::map<CommKind, LinkSpec::Measured> measure_network(Communicator& world,
                                                       const std::function<void(const std::string&)>& progress) {
  std::map<CommKind, LinkSpec::Measured> out;
  const int n = world.size();
  const GroupSpan span{n, 1, n};
  NetworkSpec unit;  // factor-only: 1 B/s, no latency → seconds = factor · bytes
  unit.intra_node.bandwidth = 1.0;
  for (CommKind kind : {CommKind::kAllReduce, CommKind::kAllGather, CommKind::kReduceScatter, CommKind::kSend}) {
    std::vector<std::pair<double, double>> xy;  // (factor · bytes, seconds)
    for (std::int64_t bytes = 4096; bytes <= (std::int64_t{64} << 20); bytes *= 4) {
      const std::int64_t elems = bytes / 4 / n * n;
      const Tensor big = Tensor::zeros({elems}), part = Tensor::zeros({elems / n});
      std::vector<double> times;
      for (int r = 0; r <= 5; ++r) {
        world.barrier();
        const Clock::time_point t0 = Clock::now();
        switch (kind) {
          case CommKind::kAllReduce: world.all_reduce(big, ReduceOp::kSum); break;
          case CommKind::kAllGather: world.all_gather(part, big); break;
          case CommKind::kReduceScatter: world.reduce_scatter(big, part, ReduceOp::kSum); break;
          default:  // ping-pong between ranks 0 and 1: half a round trip
            if (world.rank() == 0) world.send(big, 1, 11).wait(), world.recv(big, 1, 12).wait();
            if (world.rank() == 1) world.recv(big, 0, 11).wait(), world.send(big, 0, 12).wait();
        }
        if (r > 0) times.push_back(kind == CommKind::kSend ? since(t0) / 2 : since(t0));
      }
      xy.emplace_back(collective_seconds(kind, static_cast<double>(big.nbytes()), span, unit), median(times));
    }
    // Least squares y = a + b x.
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const auto& [x, y] : xy) sx += x, sy += y, sxx += x * x, sxy += x * y;
    const double k = static_cast<double>(xy.size());
    const double b = (k * sxy - sx * sy) / (k * sxx - sx * sx), a = (sy - b * sx) / k;
    out[kind] = {1.0 / std::max(b, 1e-15), std::max(a, 0.0)};
    char line[160];
    std::snprintf(line, sizeof line, "  %-15s bus bandwidth %7.2f GB/s, latency %6.1f us\n",
                  std::string(comm_kind_name(kind)).c_str(), out[kind].bus_bandwidth / 1e9, out[kind].latency_s * 1e6);
    progress(line);
  }
  return out;
}

double loadavg() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

}  // namespace

CalibrationOptions default_calibration() {
  CalibrationOptions o;
  GptConfig wide;
  wide.layers = 1;
  wide.hidden = 1024;
  wide.heads = 16;
  wide.seq_len = 512;
  wide.vocab = 8192;
  o.models = {{GptConfig::mini(), {1, 2, 4}}, {wide, {2}}};
  return o;
}

ClusterSpec calibrate_cpu(Communicator& world, const CalibrationOptions& o,
                          const std::function<void(const std::string&)>& progress) {
  TRIDENT_CHECK(world.size() >= 2, "trident calibrate measures the network between ranks: run it on at least 2 ",
                "ranks (experiments/launch/launch.sh 2 build/experiments/trident calibrate)");
  const Clock::time_point start = Clock::now();
  const double load_before = loadavg();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = blas_threads();
  TimingSink sink;
  long ops = 0;
  double outside = 0.0;

  progress("ops in place, every rank at once (" + std::to_string(threads) + " thread(s) per rank)\n");
  for (const auto& [model, batches] : o.models)
    for (int tp : o.tp_sizes)
      for (bool sp : {false, true}) {
        if ((sp && tp == 1) || model.heads % tp != 0) continue;
        for (std::int64_t b : batches) {
          world.barrier();
          outside += run_chunk(model, tp, sp, b, o.repeats, sink, ops);
        }
      }
  world.barrier();
  run_flat_ops(sink);
  if (o.gemm_grid) {
    progress("GEMM grid\n");
    world.barrier();
    run_gemm_grid(sink);
  }

  // Thread speed-up: rank 0 alone (the others wait at the barrier), one thread against every core,
  // alternated so that both see the same outside load; the ratio per op class is what a rank that
  // owns the machine gains. It cannot exceed the thread count: more is load noise, and is capped.
  progress("thread speed-up (rank 0 alone, 1 vs " + std::to_string(cores) + " threads)\n");
  std::map<OpClass, double> one, all;
  world.barrier();
  // The other ranks wait asleep: MPI's barrier polls, and a polling rank takes a core from the
  // threads being measured (with 2 cores it cut the GEMMs' measured speed-up from 1.9 to 1.7).
  const Tensor token = Tensor::empty({1});
  Request done;
  if (world.rank() != 0) done = world.recv(token, 0, kSpeedupDoneTag);
  if (world.rank() == 0 && cores > 1) {
    TimingSink single, many;
    long n = 0;
    const auto& [model, batches] = o.models.front();
    for (int round = 0; round < 3; ++round)
      for (int t : {1, cores}) {
        set_blas_threads(t);
        (void)run_chunk(model, 1, false, batches.back(), std::max(1, o.repeats / 2), t == 1 ? single : many, n);
      }
    set_blas_threads(threads);
    for (auto& [key, s] : many.samples()) {
      auto it = single.samples().find(key);
      if (it == single.samples().end()) continue;
      one[op_class(s.op.kind)] += median(it->second.seconds);
      all[op_class(s.op.kind)] += median(s.seconds);
    }
  }
  if (world.rank() == 0) {
    std::vector<Request> sent;
    for (int r = 1; r < world.size(); ++r) sent.push_back(world.send(token, r, kSpeedupDoneTag));
    wait_all(sent);
  } else {
    const Clock::time_point deadline = Clock::now() + world.timeout();
    while (!done.test()) {
      if (Clock::now() > deadline) {
        done.wait();  // rank 0 is gone or stuck: wait() ends in the communicator's timeout error
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  world.barrier();

  progress("network (" + std::to_string(world.size()) + " ranks)\n");
  const auto collectives = measure_network(world, progress);

  // ---- fold the samples into the cluster --------------------------------------------------------
  ClusterSpec c;
  c.name = "cpu";
  DeviceSpec& d = c.device;
  d.kind = DeviceSpec::Kind::kCpu;
  d.cores = cores;
  // References: the best GEMM rate (FLOP/s) and the best memory-bound rate (bytes/s) seen, so
  // that every efficiency is <= 1 whatever the load did to single samples.
  double peak = 0.0, bandwidth = 0.0;
  for (auto& [key, s] : sink.samples()) {
    const double t = median(s.seconds);
    if (s.op.is_gemm()) peak = std::max(peak, s.op.flops / t);
    if (op_class(s.op.kind) == OpClass::kMemory && s.op.bytes > 0) bandwidth = std::max(bandwidth, s.op.bytes / t);
  }
  d.peak_flops["f32"] = peak;
  d.memory_bandwidth = bandwidth;
  d.memory_efficiency = 1.0;
  struct sysinfo info {};
  d.memory_bytes = sysinfo(&info) == 0 ? static_cast<double>(info.totalram) * info.mem_unit : 16e9;
  std::map<std::string, std::map<double, std::vector<double>>> tables;
  std::vector<double> attention;
  for (auto& [key, s] : sink.samples()) {
    const double t = median(s.seconds);
    const OpClass cls = op_class(s.op.kind);
    if (cls == OpClass::kGemm) {
      const std::string trans = std::string(s.op.trans_a ? "T" : "N") + (s.op.trans_b ? "T" : "N");
      d.gemm.table.push_back({static_cast<double>(s.op.shape[1]), static_cast<double>(s.op.shape[2]),
                              static_cast<double>(s.op.shape[3]), std::min(1.0, s.op.flops / t / peak), trans});
    } else if (cls == OpClass::kAttention) {
      tables[std::string(op_kind_name(s.op.kind))][s.op.flops].push_back(s.op.flops / t / peak);
      attention.push_back(s.op.flops / t / peak);
    } else if (s.op.bytes > 0) {
      tables[std::string(op_kind_name(s.op.kind))][s.op.bytes].push_back(s.op.bytes / t / bandwidth);
    }
  }
  for (auto& [name, points] : tables) {
    SizeTable& table = d.op_efficiency[name];
    for (auto& [size, effs] : points) table.points.emplace_back(size, median(effs));
  }
  double best = 0.0;
  for (const auto& p : d.gemm.table) best = std::max(best, p.efficiency);
  d.gemm.max_efficiency = best;
  d.gemm.half_dim = 32.0;
  d.attention_efficiency = attention.empty() ? 0.3 : median(attention);
  d.op_overhead_s = ops > 0 ? outside / static_cast<double>(ops) : 0.0;
  for (const auto& [cls, t1] : one)
    if (all[cls] > 0)
      d.thread_speedup[cls == OpClass::kGemm ? "gemm" : cls == OpClass::kAttention ? "attention" : "memory"] =
          std::clamp(t1 / all[cls], 1.0, static_cast<double>(cores));

  NetworkSpec& net = c.network;
  net.devices_per_node = 1 << 16;  // every rank of a job runs on this machine
  net.intra_node.bandwidth = collectives.at(CommKind::kSend).bus_bandwidth;
  net.intra_node.latency_s = collectives.at(CommKind::kSend).latency_s;
  net.intra_node.collectives = collectives;
  net.inter_node = net.intra_node;
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  c.description = "This machine (" + std::string(host) + ", " + std::to_string(cores) +
                  " cores) as measured by `trident calibrate` on " + std::to_string(world.size()) + " ranks with " +
                  std::to_string(threads) + " thread(s) each; load average " + std::to_string(load_before) +
                  " before, " + std::to_string(loadavg()) + " after; " + std::to_string(static_cast<int>(since(start))) +
                  " s.";
  return c;
}

}  // namespace trident
