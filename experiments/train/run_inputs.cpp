#include "experiments/train/run_inputs.h"

#include <unistd.h>

#include <boost/crc.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "core/cuda_probe.h"
#include "core/error.h"
#include "experiments/data/default_corpus.h"
#include "experiments/data/token_file.h"
#include "experiments/data/token_loader.h"
#include "experiments/sim/memory_model.h"
#include "experiments/train/checkpoint_files.h"
#include "experiments/train/model_weights.h"
#include "layers/gpt2_safetensors.h"

namespace trident {

namespace fs = std::filesystem;

namespace {

// ---- out_dir ------------------------------------------------------------------------------------

void check_out_dir(const std::string& out_dir) {
  fs::path existing = fs::absolute(out_dir).lexically_normal();
  while (!fs::exists(existing) && existing.has_parent_path() && existing != existing.parent_path())
    existing = existing.parent_path();
  TRIDENT_CHECK(fs::is_directory(existing), "out_dir '", out_dir, "': '", existing.string(),
                "' exists and is not a directory: choose another out_dir");
  TRIDENT_CHECK(::access(existing.c_str(), W_OK | X_OK) == 0, "out_dir '", out_dir, "': '", existing.string(),
                "' is not writable by this user: choose another out_dir");
  // What the run writes there must be writable as files.
  for (const char* name : {"config.json", "metrics.jsonl", "summary.json", "trace.json"})
    TRIDENT_CHECK(!fs::is_directory(fs::path(out_dir) / name), "out_dir '", out_dir, "': ", name,
                  " is a directory, but the run writes a file there: move it away or choose another out_dir");
  const fs::path checkpoints = fs::path(out_dir) / "checkpoints";
  TRIDENT_CHECK(!fs::exists(checkpoints) || fs::is_directory(checkpoints), "out_dir '", out_dir,
                "': checkpoints exists and is not a directory: move it away or choose another out_dir");
}

// ---- device and memory --------------------------------------------------------------------------

void check_device(const DevicePlan& device) {
  if (!device.is_cuda()) return;
  const CudaProbe& probe = cuda_probe();
  TRIDENT_CHECK(probe.available, "device is ", device.str(), ", but ", probe.reason, " (set device to \"cpu\")");
  TRIDENT_CHECK(device.local_gpu || device.device.index < probe.device_count, "device is ", device.str(),
                " but this node has ", probe.device_count, " GPU(s) (cuda:0 .. cuda:", probe.device_count - 1,
                "): use one of them, or \"cuda\" for each rank's node-local GPU");
}

std::int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

[[noreturn]] void does_not_fit(const std::string& what, const std::string& where) {
  TRIDENT_FAIL("the plan does not fit in memory: ", what, " (", where, ")");
}

// Host memory every CPU rank loads the token files into (each rank reads them whole).
void check_memory(const TrainPlan& plan, int world_size) {
  const int local = ranks_on_this_node(world_size);
  const std::int64_t host = host_memory_available();
  const std::int64_t data = file_bytes(plan.data.train) + file_bytes(plan.data.val);
  const std::string host_words = format_bytes(static_cast<double>(host)) + " of host memory available to " +
                                 std::to_string(local) + " rank(s) on this node";
  if (host > 0 && data * local > host)
    does_not_fit("every rank loads data.train and data.val whole (" + format_bytes(static_cast<double>(data)) +
                     " each); the biggest term is the token files: use smaller files or fewer ranks per node",
                 host_words);

  std::int64_t capacity = 0;
  std::string where;
  if (plan.device.is_cuda()) {
    const CudaProbe& probe = cuda_probe();
    if (probe.memory_bytes.empty()) return;  // memory unknown: nothing to compare against
    const auto index = static_cast<std::size_t>(plan.device.local_gpu ? 0 : plan.device.device.index);
    const std::int64_t gpu = plan.device.local_gpu
                                 ? *std::min_element(probe.memory_bytes.begin(), probe.memory_bytes.end())
                                 : probe.memory_bytes.at(std::min(index, probe.memory_bytes.size() - 1));
    const int sharing = plan.device.local_gpu ? (local + probe.device_count - 1) / probe.device_count : local;
    capacity = gpu / std::max(1, sharing);
    where = format_bytes(static_cast<double>(gpu)) + " per GPU" +
            (sharing > 1 ? ", shared by " + std::to_string(sharing) + " ranks" : std::string());
  } else {
    if (host <= 0) return;
    capacity = (host - data * local) / local;
    where = host_words + (data > 0 ? ", less the token files" : "");
  }

  // A necessary condition first, so that an absurd model is refused before the memory model
  // builds its chunks: every rank holds at least its 1/(pp·tp) share of the f32 weights.
  const std::int64_t params = plan.model.parameter_count();
  const std::int64_t shard = 4 * params / (static_cast<std::int64_t>(plan.mesh.pp()) * plan.mesh.tp());
  if (shard > capacity)
    does_not_fit("the f32 weights alone need at least " + format_bytes(static_cast<double>(shard)) + " per rank (" +
                     std::to_string(params) + " parameters over layout.pp " + std::to_string(plan.mesh.pp()) +
                     " x layout.tp " + std::to_string(plan.mesh.tp()) + ") and a rank has " +
                     format_bytes(static_cast<double>(capacity)) + ": use more layout.tp or layout.pp, or a smaller model",
                 where);
  const MemoryEstimate estimate = estimate_memory(plan, plan.device.device.type, capacity);
  if (!estimate.fits()) does_not_fit(estimate.advice(), where);
}

// ---- checkpoint ---------------------------------------------------------------------------------

// "[3, 17]" of flat index `i` in `shape`.
std::string index_in(const Shape& shape, std::int64_t i) {
  std::vector<std::int64_t> at(static_cast<std::size_t>(shape.ndim()));
  for (int d = shape.ndim() - 1; d >= 0; --d) {
    at[static_cast<std::size_t>(d)] = i % shape[d];
    i /= shape[d];
  }
  std::string out = "[";
  for (std::size_t d = 0; d < at.size(); ++d) out += (d ? ", " : "") + std::to_string(at[d]);
  return out + "]";
}

void check_finite(const std::string& dir, const std::string& name, const Tensor& t) {
  const float* x = t.data<float>();
  const std::int64_t n = t.numel();
  std::int64_t bad = 0, first = -1;
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      if (bad++ == 0) first = i;
    }
  TRIDENT_CHECK(bad == 0, "checkpoint '", dir, "': tensor '", name, "' holds ", x[first], " at ",
                index_in(t.shape(), first), " (", bad, " of ", n, " values are not finite): the run that wrote it ",
                "diverged; resume from an earlier checkpoint");
}

// Returns the manifest; sets `complete` when resume=auto finds the run already at its last step.
nlohmann::json check_checkpoint(const TrainPlan& plan, bool auto_resume, bool& complete) {
  const std::string& dir = plan.resume;
  const CheckpointReader ckpt(dir);  // sizes and CRC-32s of every file; every safetensors header
  const CheckpointManifest m = parse_checkpoint_manifest(ckpt.manifest(), dir);
  const std::pair<const char*, std::int64_t> sizes[] = {
      {"layers", plan.model.layers},   {"hidden", plan.model.hidden}, {"heads", plan.model.heads},
      {"seq_len", plan.model.seq_len}, {"vocab", plan.model.vocab}};
  const std::int64_t recorded[] = {m.model.layers, m.model.hidden, m.model.heads, m.model.seq_len, m.model.vocab};
  for (std::size_t i = 0; i < std::size(sizes); ++i)
    TRIDENT_CHECK(recorded[i] == sizes[i].second, "checkpoint '", dir, "' is for model.", sizes[i].first, " = ",
                  recorded[i], " but this run has model.", sizes[i].first, " = ", sizes[i].second,
                  ": resume with the model it was trained with, or leave resume empty to start afresh");
  TRIDENT_CHECK(!m.records_ln_eps || m.model.ln_eps == plan.model.ln_eps, "checkpoint '", dir,
                "' was trained with model.ln_eps = ", m.model.ln_eps, " but this run has ", plan.model.ln_eps,
                ": set model.ln_eps to the checkpoint's");
  if (m.step >= plan.steps) {
    TRIDENT_CHECK(auto_resume, "checkpoint '", dir, "' is at step ", m.step, " and steps is ", plan.steps,
                  ": nothing is left to train; raise steps to continue the run");
    complete = true;
    return ckpt.manifest();
  }

  // Exactly the model's tensors and their AdamW moments, f32, GPT-2 shapes, every value finite.
  std::set<std::string> expected;
  for (const auto& [name, shape] : gpt2_tensor_shapes(plan.model))
    for (const char* suffix : {"", ".exp_avg", ".exp_avg_sq"}) {
      const std::string n = name + suffix;
      expected.insert(n);
      TRIDENT_CHECK(ckpt.contains(n), "checkpoint '", dir, "' has no tensor '", n, "' (model.layers ",
                    plan.model.layers, "): it is incomplete or was written for another model");
      const SafetensorsFile& f = ckpt.file_of(n);
      TRIDENT_CHECK(f.dtype(n) == DType::kF32 && f.shape(n) == shape, "checkpoint '", dir, "': tensor '", n, "' is ",
                    dtype_name(f.dtype(n)), " ", f.shape(n).str(), " but this model needs f32 ", shape.str());
      check_finite(dir, n, f.read(n));
    }
  for (const std::string& n : ckpt.names())
    TRIDENT_CHECK(expected.count(n) != 0, "checkpoint '", dir, "' holds tensor '", n,
                  "', which this model does not have: it was written for another model");
  return ckpt.manifest();
}

// ---- data ---------------------------------------------------------------------------------------

nlohmann::json check_token_file(const std::string& field, const std::string& path, const TrainPlan& plan) {
  std::optional<TokenFile> file;
  try {
    file.emplace(path);
    (void)TokenLoader(*file, static_cast<int>(plan.model.seq_len), plan.data.seed);  // seq_len+1 tokens at least
  } catch (const Error& e) {
    TRIDENT_FAIL(field, ": ", message_of(e));
  }
  TRIDENT_CHECK(file->max_token() < plan.model.vocab, field, " '", path, "' holds token id ", file->max_token(),
                " but model.vocab is ", plan.model.vocab, ": every id must be below the vocabulary; set model.vocab ",
                "to at least ", file->max_token() + 1, ", or tokenize the data with the model's vocabulary");
  boost::crc_32_type crc;
  crc.process_bytes(file->tokens().data(), file->tokens().size_bytes());
  return {{"path", path}, {"tokens", file->size()}, {"max_token", file->max_token()}, {"crc32", crc.checksum()}};
}

std::int64_t read_number(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return -1;
  std::int64_t n = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : -1;  // "max": no limit
}

}  // namespace

std::string newest_checkpoint(const std::string& out_dir) {
  const fs::path dir = fs::path(out_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "";
  std::int64_t best = -1;
  fs::path chosen;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("step_") || !entry.is_directory()) continue;  // step_N.tmp is an interrupted save
    std::int64_t step = -1;
    const char* digits = name.data() + 5;
    const auto [end, err] = std::from_chars(digits, name.data() + name.size(), step);
    if (err != std::errc() || end != name.data() + name.size() || step < 0) continue;
    if (!fs::exists(entry.path() / "trainer.json")) continue;
    if (step > best) best = step, chosen = entry.path();
  }
  return best < 0 ? "" : chosen.string();
}

std::int64_t host_memory_available() {
  std::int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    std::int64_t kib = 0;
    meminfo >> kib;
    if (key == "MemAvailable:") available = kib * 1024;
    meminfo.ignore(1 << 10, '\n');
  }
  // cgroup v2: the tightest memory.max (less memory.current) from this process's group up.
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    if (!line.starts_with("0::")) continue;
    for (fs::path group = fs::path("/sys/fs/cgroup") / line.substr(4); ; group = group.parent_path()) {
      const std::int64_t limit = read_number(group / "memory.max"), used = read_number(group / "memory.current");
      if (limit > 0 && used >= 0) available = available < 0 ? limit - used : std::min(available, limit - used);
      if (group == "/sys/fs/cgroup" || !group.has_parent_path() || group == group.parent_path()) break;
    }
  }
  return available;
}

int ranks_on_this_node(int world_size) {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* text = std::getenv(var)) {
      const int n = std::atoi(text);
      if (n >= 1) return n;
    }
  return std::max(1, world_size);
}

RunInputs check_run_inputs(TrainPlan& plan, int world_size) {
  RunInputs out;
  check_out_dir(plan.out_dir);
  const bool auto_resume = plan.resume == "auto";
  if (auto_resume) plan.resume = newest_checkpoint(plan.out_dir);
  check_device(plan.device);
  check_memory(plan, world_size);
  out.digest["resume"] = nullptr;
  if (!plan.resume.empty()) {
    out.digest["resume"] = check_checkpoint(plan, auto_resume, out.already_complete);
    if (out.already_complete) return out;
  }
  // Data: the given files, or the default corpus (made once, atomically; every rank reaches the
  // same files).
  if (plan.data.train.empty() || plan.data.val.empty()) {
    const DefaultCorpus corpus = ensure_default_corpus((fs::path(plan.out_dir).parent_path() / "data").string());
    if (plan.data.train.empty()) plan.data.train = corpus.train_path;
    if (plan.data.val.empty()) plan.data.val = corpus.val_path;
  }
  out.digest["data.train"] = check_token_file("data.train", plan.data.train, plan);
  out.digest["data.val"] = check_token_file("data.val", plan.data.val, plan);
  // A run that resumes has weights of its own; init_from starts only a fresh one.
  if (plan.resume.empty() && !plan.init_from.empty())
    out.digest["init_from"] = check_init_from(plan.init_from, plan.model, plan.data.train);
  return out;
}

}  // namespace trident
