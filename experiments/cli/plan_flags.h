// The --config FILE / --set key.path=value pair of flags that name a `trident train` config, for the
// commands that take one without running it (simulate, search): the plan is resolved and checked
// like `trident train`'s, but no data file, checkpoint or device is touched.
#pragma once

#include <boost/program_options.hpp>

#include "experiments/plan/plan.h"

namespace trident {

void declare_plan_flags(boost::program_options::options_description& d);
TrainPlan plan_from_flags(const boost::program_options::variables_map& vm);
// The config alone (before resolving), for commands that vary it (search).
TrainConfig config_from_flags(const boost::program_options::variables_map& vm);

}  // namespace trident
