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
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/train/run_summary.h"

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

std::string summary_table(const std::vector<nlohmann::json>& records) {
  std::vector<StepRecord> steps;
  for (const json& r : records) steps.push_back(step_record_from_json(r));
  return summary_table(summarize(steps));
}

}  // namespace trident
