// A pipeline schedule: for every stage, the ordered list of actions it runs in one training step.
// Schedules are data: generators (generators.h) write them, text files load them, lowering adds
// communication, the validator checks them, the analyzer measures them and one executor runs them.
//
// The model is cut into num_chunks() = pp · v chunks (stages) in order; the placement says which
// stage holds which chunk:
//   kLoop     chunk c on stage c mod pp (v = 1: plain; v > 1: Megatron's interleaved chunks)
//   kVShape   v = 2, stage r holds chunks r and 2·pp−1−r (ZB-V, DualPipeV): the first and the last
//             chunk live on stage 0
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "schedules/action.h"

namespace trident {

enum class Placement { kLoop, kVShape };
std::string_view placement_name(Placement p);
Placement parse_placement(std::string_view name);

struct Schedule {
  std::string name;        // "1f1b", "gpipe", …, or "custom"
  int pp = 1;              // stages
  int v = 1;               // chunks per stage
  int micro_batches = 1;   // m
  Placement placement = Placement::kLoop;
  bool forward_only = false;  // evaluation: F actions only (no backward is expected)
  std::vector<std::vector<Action>> stages;  // stages[r] = r's actions in order

  int num_chunks() const { return pp * v; }
  int stage_of(int chunk) const;
  std::vector<int> chunks_of(int stage) const;  // ascending
  bool lowered() const;                        // contains communication actions

  // Text form: a header line, then one line per stage:
  //   schedule 1f1b pp=2 v=1 micro_batches=4 placement=loop
  //   stage0: F0.0 F1.0 B0.0 …
  // Blank lines and '#' comments are ignored. Throws trident::Error naming the line at fault.
  std::string to_text() const;
  static Schedule from_text(std::string_view text);
  static Schedule load(const std::string& path);
  void save(const std::string& path) const;  // atomic and durable (write_file_atomically)
};

}  // namespace trident
