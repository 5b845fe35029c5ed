// For the generators: a schedule with its header set and one empty action list per stage, after
// checking pp >= 1 and m >= 1 (errors name the schedule). Defined in schedules/generators.cpp.
#pragma once

#include <string>

#include "schedules/schedule.h"

namespace trident::detail {

Schedule blank_schedule(std::string name, int pp, int v, int micro_batches, Placement placement = Placement::kLoop);

}  // namespace trident::detail
