// What a training run leaves behind for the researcher: metrics.jsonl (one record per step, appended
// as the run goes), small JSON files written atomically (the resolved config, the final summary),
// and the plain-text summary table printed at the end.
//
// THE schema of a metrics.jsonl record (one JSON object per line, one line per optimizer step;
// times in seconds, memory in bytes, rates per second):
//   "step"            int     1-based optimizer step
//   "loss"            number  mean training loss of the step (null when non-finite)
//   "val_loss"        number  validation loss, only on steps that evaluated
//   "grad_norm"       number  global gradient norm before clipping (null when non-finite)
//   "lr"              number  learning rate the step used
//   "skipped"         bool    true when the loss or the gradient was non-finite and the update was skipped
//   "step_time_s"     number  wall time of the step
//   "tokens_per_s"    number  training tokens of the step over step_time_s, whole job
//   "tflops_per_rank" number  model FLOPs of the step (GptConfig::flops_per_step) / step_time_s / ranks / 1e12
//   "mfu"             number  tflops_per_rank·1e12 / peak FLOP/s per rank, a fraction in [0, 1]
//   "bubble_s"        number  time the pipeline ranks sat idle in the step (schedule bubble)
//   "bubble_frac"     number  bubble_s / step_time_s
//   "comm_s"          object  {"tp", "pp", "dp", "embedding"}: blocking communication time per group
//   "peak_mem_bytes"  object  {"min", "max"}: peak tracked memory over ranks
// Non-finite numbers are written as null (JSON has no NaN). Readers must not assume more keys than
// these, and must accept records without the optional ones.
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

// The final numbers of a run as a plain-text table, from its metrics records (in step order):
// steps, final loss, final val loss, mean step time excluding the first step (warm-up), tokens/s,
// TFLOP/s per rank, MFU, bubble %, communication time per group per step, and peak memory over
// ranks. Rates are averaged over the same steps, weighted by step time (total work / total time).
std::string summary_table(const std::vector<nlohmann::json>& records);

}  // namespace trident
