// A train config as a person writes it: the JSON keys of `trident train` (and of `trident simulate`
// and sweep specs), with defaults. The member initialisers are the README's default experiment (a
// byte-level GPT on the fortunes corpus, dp2 x pp2 x tp2, 1F1B). Read from JSON (a file) with
// `--set key.path=value` overrides; every key is known (an unknown one is an error naming it and the
// keys allowed there, a renamed one names its successor). resolve_plan (plan.h) checks the values
// and turns them into the typed TrainPlan everything downstream takes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/gpt_config.h"

namespace trident {

struct LayoutConfig {
  int dp = 2, pp = 2, tp = 2;
  std::string order = "tp-pp-dp";
  std::string schedule = "1f1b";          // gpipe | 1f1b | interleaved | zb-h1 | zb-v, or a file path (schedule_file)
  std::string schedule_file;              // a schedule in text form; overrides `schedule`
  int micro_batches = 4;                  // per step, per DP replica
  int micro_batch_size = 4;               // sequences per micro-batch
  int v = 2;                              // chunks per rank for interleaved
  std::vector<std::int64_t> layers_per_chunk;  // optional: blocks per chunk (pp·v entries)
  bool sequence_parallel = false;
  std::string recompute = "none";         // none | selective | full
  int zero = 0;                           // ZeRO stage: 0 plain DP; 1 shards optimizer state, 2 + gradients, 3 + parameters
  double bucket_mb = 4.0;                 // data-parallel gradient bucket size
  bool overlap_grad_reduce = true;        // launch each bucket as soon as its gradients are final
};

struct OptimizerConfig {
  double lr = 1e-3;
  double min_lr = 1e-4;             // cosine decays to this
  int warmup_steps = 5;             // linear warm-up from 0
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;        // matrices only (2-D parameters: linears and embeddings)
  double grad_clip = 1.0;           // global gradient-norm clip; 0 disables
};

struct DataConfig {
  std::string train = "";           // llm.c token file (.bin); empty: make the default corpus
  std::string val = "";             // validation token file; empty: make the default corpus
  std::uint64_t seed = 1234;        // sampling order
};

struct TrainConfig {
  // model.layers, hidden, heads, seq_len, vocab, seed: by default a byte-level GPT (256 bytes +
  // end-of-text) small enough for 8 oversubscribed CPU ranks.
  GptConfig model{.layers = 4, .hidden = 128, .heads = 4, .seq_len = 128, .vocab = 257};
  LayoutConfig layout;
  OptimizerConfig optimizer;
  DataConfig data;
  int steps = 100;
  int eval_interval = 20;           // validation loss every N steps (and at the end); 0: never
  int eval_batches = 4;             // micro-batches per evaluation
  int checkpoint_interval = 0;      // save every N steps (and at the end when > 0); 0: never
  std::string resume;               // checkpoint directory to start from, or "auto": the newest complete
                                    // one in <out_dir>/checkpoints (none yet: start from scratch)
  std::string init_from;            // start from these weights (a Hugging Face GPT-2 folder, e.g. from
                                    // `trident export`, or a checkpoint), with fresh optimizer state at
                                    // step 0; a checkpoint found by resume=auto takes precedence
  std::string out_dir = "runs/default";
  std::string device = "cpu";       // "cpu", or "cuda" (each rank its local rank's GPU) / "cuda:N"
  std::string precision = "auto";  // auto (bf16 on cuda, f32 on cpu) | f32 | bf16 (compute; masters stay f32)
  std::string comm = "auto";       // device communicator: auto (nccl on cuda with a GPU per rank) | mpi | nccl
  double peak_flops = 0.0;          // device peak FLOP/s per rank for MFU; 0: measure (CPU: GEMM probe)
  int log_interval = 1;             // progress line every N steps on rank 0
  int max_consecutive_skips = 5;    // stop (exit 1) after this many steps in a row skipped as non-finite

  int world_size() const { return layout.dp * layout.pp * layout.tp; }
};

// Defaults, then `json` over them, then each "key.path=value" override (value parsed as JSON when
// it parses, else taken as a string). Throws trident::Error naming the key on unknown keys and type
// mismatches. Values are not checked: resolve_plan (plan.h) does that.
TrainConfig read_train_config(const nlohmann::json& json, const std::vector<std::string>& overrides = {});
TrainConfig read_train_config_file(const std::string& path, const std::vector<std::string>& overrides = {});
// read_train_config, then validate(): what `trident train` accepts.
TrainConfig parse_train_config(const nlohmann::json& json, const std::vector<std::string>& overrides = {});
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Every check of resolve_plan (sizes, divisibility, the schedule's rules, the chunk split,
// device/precision/comm), plus the files a run reads: data.train/val exist, resume is a directory.
// Throws naming the field and the fix.
void validate(const TrainConfig& config);
nlohmann::json to_json(const TrainConfig& config);

}  // namespace trident
