// Run outputs. Metrics lines go through POSIX calls rather than iostreams: a line must reach the
// kernel in one write(2) (an ofstream may split it at its buffer boundary). Whole files (config,
// summary) go through write_file_atomically (core/atomic_file.h).
#include "experiments/train/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"

namespace trident {

namespace {

using json = nlohmann::json;

// Length of the file up to and including its last newline: what remains when a torn last line
// (left by a machine crash or a full disk) is dropped. -1 if the file cannot be read.
off_t complete_prefix(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  char block[4096];
  for (off_t end = st.st_size; end > 0;) {
    const off_t begin = std::max<off_t>(0, end - static_cast<off_t>(sizeof block));
    const ssize_t got = ::pread(fd, block, static_cast<std::size_t>(end - begin), begin);
    if (got != end - begin) return -1;
    for (ssize_t i = got - 1; i >= 0; --i)
      if (block[i] == '\n') return begin + i + 1;
    end = begin;
  }
  return 0;
}

// JSON text of a record; invalid UTF-8 in a string is replaced rather than losing the record.
std::string dump(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace

// ---- MetricsWriter ------------------------------------------------------------------------------

MetricsWriter::MetricsWriter(const std::string& path, bool append) : path_(path) {
  // Read access too: appending looks for a line torn by a crash at the end of the file.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0644);
  TRIDENT_CHECK(fd_ >= 0, "cannot open metrics file '", path, "': ", errno_text(errno),
                " (does its directory exist and is it writable?)");
  if (!append) return;
  const off_t keep = complete_prefix(fd_);
  struct stat st {};
  if (keep >= 0 && ::fstat(fd_, &st) == 0 && keep < st.st_size && ::ftruncate(fd_, keep) != 0) {
    const int err = errno;
    ::close(fd_);
    TRIDENT_FAIL("cannot drop the torn last line of metrics file '", path, "': ", errno_text(err));
  }
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::write(const nlohmann::json& record) {
  const std::string line = dump(record, -1) + "\n";
  ssize_t put;
  do {
    put = ::write(fd_, line.data(), line.size());  // one call: the line lands whole or not at all
  } while (put < 0 && errno == EINTR);
  TRIDENT_CHECK(put >= 0, "cannot append to metrics file '", path_, "': ", errno_text(errno));
  // Short only when the disk fills or a quota is hit: finish the line if space allows, else report.
  if (static_cast<std::size_t>(put) < line.size()) {
    const int err = write_all(fd_, line.data() + put, line.size() - static_cast<std::size_t>(put));
    TRIDENT_CHECK(err == 0, "metrics file '", path_, "': wrote ", put, " of ", line.size(),
                  " bytes of a line: ", errno_text(err), " (is the disk full?)");
  }
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot read metrics file '", path, "': ", errno_text(errno));
  std::vector<std::pair<int, std::string>> lines;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty()) lines.emplace_back(number, std::move(line));
  }
  std::vector<json> records;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json record = json::parse(lines[i].second, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() && i + 1 == lines.size()) break;  // torn by a crash mid-run
    TRIDENT_CHECK(!record.is_discarded(), "metrics file '", path, "' line ", lines[i].first,
                  " is not JSON: the file was edited or written by something else");
    records.push_back(std::move(record));
  }
  return records;
}

// ---- write_json_atomic --------------------------------------------------------------------------

void write_json_atomic(const std::string& path, const nlohmann::json& value) {
  const std::string text = dump(value, 2) + "\n";
  write_file_atomically(path, {{text.data(), text.size()}}, "write_json_atomic");
}

// ---- summary_table ------------------------------------------------------------------------------

namespace {

std::optional<double> number(const json& record, const char* key, const char* sub = nullptr) {
  auto it = record.find(key);
  if (it == record.end()) return std::nullopt;
  if (sub) {
    if (!it->is_object()) return std::nullopt;
    auto inner = it->find(sub);
    if (inner == it->end() || !inner->is_number()) return std::nullopt;
    return inner->get<double>();
  }
  return it->is_number() ? std::optional<double>(it->get<double>()) : std::nullopt;
}

std::string format(const char* spec, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, value);
  return buf;
}

// Mean of `key` over `steps`, weighted by step time when every step has one: for a rate that is
// total work over total time, which a plain mean of per-step rates is not.
std::optional<double> weighted_mean(const std::vector<const json*>& steps, const char* key,
                                    const char* sub = nullptr) {
  double sum = 0, weight = 0;
  for (const json* r : steps) {
    const auto v = number(*r, key, sub);
    if (!v) continue;
    const double w = key == std::string("step_time_s") ? 1.0 : number(*r, "step_time_s").value_or(1.0);
    sum += *v * w;
    weight += w;
  }
  if (weight <= 0) return std::nullopt;
  return sum / weight;
}

}  // namespace

std::string summary_table(const std::vector<nlohmann::json>& records) {
  if (records.empty()) return "no steps recorded\n";
  std::vector<std::pair<std::string, std::string>> rows;
  auto row = [&](std::string name, const std::optional<double>& v, const char* spec, double scale = 1.0) {
    rows.emplace_back(std::move(name), v ? format(spec, *v * scale) : "-");
  };

  const json& last = records.back();
  int skipped = 0;
  for (const json& r : records) skipped += r.value("skipped", false) ? 1 : 0;
  const auto last_step = number(last, "step");
  std::string steps = last_step ? format("%.0f", *last_step) : std::to_string(records.size());
  if (skipped > 0) steps += " (" + std::to_string(skipped) + " skipped)";
  rows.emplace_back("steps", steps);

  row("final loss", number(last, "loss"), "%.4f");
  const json* evaluated = nullptr;
  for (const json& r : records)
    if (number(r, "val_loss")) evaluated = &r;
  if (evaluated) {
    std::string val = format("%.4f", *number(*evaluated, "val_loss"));
    if (const auto s = number(*evaluated, "step")) val += format(" (step %.0f)", *s);
    rows.emplace_back("final val loss", val);
  } else {
    rows.emplace_back("final val loss", "-");
  }

  // The first step pays for warm-up (allocation, thread start, page faults): leave it out when
  // there is anything else to average.
  std::vector<const json*> steady;
  for (std::size_t i = records.size() > 1 ? 1 : 0; i < records.size(); ++i) steady.push_back(&records[i]);
  row("mean step time (excl. first)", weighted_mean(steady, "step_time_s"), "%.1f ms", 1e3);
  row("tokens/s", weighted_mean(steady, "tokens_per_s"), "%.0f");
  row("TFLOP/s per rank", weighted_mean(steady, "tflops_per_rank"), "%.4f");
  row("MFU", weighted_mean(steady, "mfu"), "%.2f %%", 100.0);
  row("bubble", weighted_mean(steady, "bubble_frac"), "%.1f %%", 100.0);
  for (const char* group : {"tp", "pp", "dp", "embedding"})
    row(std::string("comm ") + group + " per step", weighted_mean(steady, "comm_s", group), "%.2f ms", 1e3);

  std::optional<double> mem_min, mem_max;
  for (const json& r : records) {
    if (const auto v = number(r, "peak_mem_bytes", "min")) mem_min = std::max(mem_min.value_or(*v), *v);
    if (const auto v = number(r, "peak_mem_bytes", "max")) mem_max = std::max(mem_max.value_or(*v), *v);
  }
  constexpr double kMiB = 1.0 / (1024.0 * 1024.0);
  row("peak memory, least-loaded rank", mem_min, "%.1f MiB", kMiB);
  row("peak memory, most-loaded rank", mem_max, "%.1f MiB", kMiB);

  std::size_t width = 6;
  for (const auto& [name, value] : rows) width = std::max(width, name.size());
  std::string out = "metric" + std::string(width - 6 + 2, ' ') + "value\n" + std::string(width, '-') + "  " +
                    std::string(16, '-') + "\n";
  for (const auto& [name, value] : rows) out += name + std::string(width - name.size() + 2, ' ') + value + "\n";
  return out;
}

}  // namespace trident
