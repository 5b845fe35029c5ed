// What a training run leaves behind for the researcher: metrics.jsonl (one StepRecord per step,
// step_record.h, appended as the run goes), small JSON files written atomically (the resolved
// config, the run summary), and the plain-text summary table printed at the end (run_summary.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trident {

// Appends records to a .jsonl file, one line each. Each line goes to the kernel in one write(2)
// on an O_APPEND descriptor, so if the process dies a line is either whole or absent (no fsync:
// a machine crash can lose the last lines, never reorder them). Opening for append drops a torn
// last line (one without its newline), so only the end of a file can ever hold a partial record.
class MetricsWriter {
 public:
  // append = false truncates: a fresh run; true continues the file of a resumed run.
  MetricsWriter(const std::string& path, bool append);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Every record of a .jsonl file in order. A last line that does not parse (a torn write) is
// skipped; a bad line anywhere else is an error naming it.
std::vector<nlohmann::json> read_metrics(const std::string& path);

// Pretty-printed JSON, written to a temporary file, synced and renamed over `path`: readers see
// the old file or the new one, never a part.
void write_json_atomic(const std::string& path, const nlohmann::json& value);

// The summary table of a run from its metrics.jsonl records (in step order): see run_summary.h.
std::string summary_table(const std::vector<nlohmann::json>& records);

}  // namespace trident
