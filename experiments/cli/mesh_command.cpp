// `trident mesh`: lay out the 3D mesh on the ranks mpirun started, print who is where, and check
// every communicator (world, tp, pp, dp, embedding) with operations whose results are known.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/mesh_check.h"
#include "parallel/comm_backends.h"
#include "parallel/device_mesh.h"

namespace po = boost::program_options;

namespace trident {

namespace {

std::string hostname() {
  char buf[64] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

std::string members(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return v.empty() ? "-" : s + "]";
}

// Host names of all ranks, gathered as fixed-width i32 words (the communicator moves tensors).
std::vector<std::string> gather_hostnames(Communicator& world) {
  constexpr int kWords = 16;  // 64 bytes
  Tensor mine = Tensor::zeros({kWords}, DType::kI32);
  const std::string h = hostname();
  std::memcpy(mine.data<std::int32_t>(), h.data(), std::min<std::size_t>(h.size(), kWords * 4 - 1));
  Tensor all = Tensor::empty({world.size() * kWords}, DType::kI32);
  world.all_gather(mine, all);
  std::vector<std::string> out;
  for (int r = 0; r < world.size(); ++r) out.emplace_back(reinterpret_cast<const char*>(all.data<std::int32_t>() + r * kWords));
  return out;
}

std::string layout_table(const MeshLayout& layout, const std::vector<std::string>& hosts) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%5s  %-16s %3s %3s %3s  %-12s %-12s %-12s %-10s\n", "rank", "host", "dp", "pp", "tp",
                "tp group", "pp group", "dp group", "embedding");
  os << line;
  for (int r = 0; r < layout.world_size(); ++r) {
    const MeshCoord c = layout.coord(r);
    std::snprintf(line, sizeof line, "%5d  %-16s %3d %3d %3d  %-12s %-12s %-12s %-10s\n", r,
                  hosts[static_cast<std::size_t>(r)].c_str(), c.dp, c.pp, c.tp,
                  members(layout.group(MeshAxis::kTensor, r)).c_str(), members(layout.group(MeshAxis::kPipeline, r)).c_str(),
                  members(layout.group(MeshAxis::kData, r)).c_str(), members(layout.embedding_group(r)).c_str());
    os << line;
  }
  return os.str();
}

int run_mesh(const MeshLayout& layout, Communicator& world) {
  const auto t0 = std::chrono::steady_clock::now();
  DeviceMesh mesh(world, layout);
  const auto hosts = gather_hostnames(world);
  const CommBackends backends = comm_backends();
  print0(world, "trident mesh: " + std::to_string(world.size()) + " ranks on " + backends.mpi + "\n" + layout.str() +
                    "\n\n" + layout_table(layout, hosts) + "\n");

  const MeshCheckResult result = check_mesh_communicators(mesh);
  for (const std::string& f : result.failures) std::fprintf(stderr, "[rank %d] FAILED %s\n", world.rank(), f.c_str());

  // Every rank's verdict reaches rank 0: the number of failures and checks over the whole world.
  Tensor totals = Tensor::empty({2}, DType::kI32);
  totals.data<std::int32_t>()[0] = static_cast<std::int32_t>(result.failures.size());
  totals.data<std::int32_t>()[1] = result.checks;
  world.all_reduce(totals, ReduceOp::kSum);
  const int failures = totals.data<std::int32_t>()[0], checks = totals.data<std::int32_t>()[1];
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  char summary[160];
  if (failures == 0)
    std::snprintf(summary, sizeof summary, "all communicators OK (%d checks on %d ranks, %.0f ms)\n", checks, world.size(), ms);
  else
    std::snprintf(summary, sizeof summary, "%d of %d communicator checks FAILED (see the [rank r] lines above)\n",
                  failures, checks);
  print0(world, summary);
  return failures == 0 ? kExitOk : kExitFailed;
}

}  // namespace

Command make_mesh_command() {
  Command c;
  c.name = "mesh";
  c.summary = "lay out the dp x pp x tp mesh on the launched ranks and check every communicator";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("dp", po::value<int>()->default_value(1), "data-parallel size (outermost axis)")
      ("pp", po::value<int>()->default_value(1), "pipeline-parallel size")
      ("tp", po::value<int>()->default_value(1), "tensor-parallel size (innermost: consecutive ranks)")
      ("order", po::value<std::string>()->default_value("tp-pp-dp"),
       "axis order, fastest-varying first (a permutation of tp, pp, dp)");
  };
  c.prepare = [](const po::variables_map& vm, int world_size) -> Command::Job {
    MeshLayout layout(vm["dp"].as<int>(), vm["pp"].as<int>(), vm["tp"].as<int>(), vm["order"].as<std::string>());
    layout.check_world_size(world_size);
    return [layout](Communicator& world) { return run_mesh(layout, world); };
  };
  return c;
}

}  // namespace trident
