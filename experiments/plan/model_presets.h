// The model shapes of published training runs (../shared/published_results.md), as presets for
// `model.preset` — so a simulation of, say, the 530B run of Korthikanti et al. is one --set away.
//
//   gpt3-175b   L96  h12288 nh96  S2048 V51200   Korthikanti et al. 2022 (SP22), Table 5
//   sp22-22b    L48  h6144  nh64  S2048 V51200   SP22
//   sp22-530b   L105 h20480 nh128 S2048 V51200   SP22
//   sp22-1t     L128 h25600 nh160 S2048 V51200   SP22
//   zb-1.5b     L22  h2304  nh24  S1024 V50304   Qi et al. 2024 (zero bubble), Table 4
//   zb-6.2b     L30  h4096  nh32  S1024 V50304
//   zb-14.6b    L46  h5120  nh40  S1024 V50304
//   zb-28.3b    L62  h6144  nh48  S1024 V50304
// SP22 pads its vocabulary to 51,200; the zero-bubble runs use Megatron-LM's GPT-2 vocabulary
// (50,257 padded to a multiple of 128: 50,304).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/gpt_config.h"

namespace trident {

std::optional<GptConfig> published_model(std::string_view name);
std::vector<std::string> published_model_names();

}  // namespace trident
