// Everything a training run reads, checked before any rank writes anything (config.json included).
// `trident train` runs this in its input phase, on every rank alike and without communication,
// right after resolve_plan(); an error here is bad input (exit 2) and leaves every file as it was.
//
//   resume = "auto"  the newest complete checkpoint in <out_dir>/checkpoints, or none (start fresh).
//                    A save is complete once renamed from step_N.tmp to step_N (trainer.json is
//                    written last, inside the .tmp), so an interrupted save is never chosen.
//   out_dir          a directory or creatable, and writable
//   device           device=cuda needs a usable GPU (cuda:N one with that index)
//   memory           the plan's memory per rank — experiments/sim/memory_model.h, the simulator's
//                    model: weights, gradients, optimizer state, activations by schedule and
//                    recompute, communication buffers, ZeRO-aware — against the device's memory
//                    (GPU) or this rank's share of the host's (CPU), naming the biggest term and
//                    the knob that shrinks it; token files against the host's memory
//   checkpoint       (when resuming) the manifest's fields and ranges, every file's size and CRC-32,
//                    the model sizes, every tensor's name, dtype and shape (weights and both AdamW
//                    moments, nothing missing or extra), every value finite (a NaN is named by
//                    tensor and index), and a step below `steps`
//   data             headers, at least seq_len+1 tokens, every token id below model.vocab
//
// The digest of what was read (data files, the checkpoint manifest) is what ranks compare, with the
// plan, before they communicate (experiments/cli/rank_agreement.h).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/plan/plan.h"

namespace trident {

struct RunInputs {
  // {"data.train": {path, tokens, max_token, crc32}, "data.val": {...}, "resume": <trainer.json>}
  nlohmann::json digest;
  // resume=auto found a checkpoint at the last step: the run has nothing left to do.
  bool already_complete = false;
};

// Resolves plan.resume ("auto") and plan.data (the default corpus when a path is empty; the one
// thing written here: a cached corpus under <out_dir>/../data, made atomically once every check
// that does not need it has passed), then checks everything above. `world_size`: the job's ranks.
// Throws trident::Error naming the field, the file and the fix.
RunInputs check_run_inputs(TrainPlan& plan, int world_size);

// The newest complete checkpoint directory under <out_dir>/checkpoints ("" when there is none).
std::string newest_checkpoint(const std::string& out_dir);

// Memory one rank may use: MemAvailable, or the cgroup's limit less its usage when that is lower.
std::int64_t host_memory_available();
// Ranks of this job on this node: the launcher's count (Open MPI, MPICH, Slurm), else `world_size`.
int ranks_on_this_node(int world_size);

}  // namespace trident
