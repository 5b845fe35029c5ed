#include "experiments/cli/plan_flags.h"

namespace po = boost::program_options;

namespace trident {

void declare_plan_flags(po::options_description& d) {
  d.add_options()
    ("config", po::value<std::string>(), "a `trident train` JSON config (absent: the defaults)")
    ("set", po::value<std::vector<std::string>>()->composing(),
     "override a config key, as `trident train` takes it: --set layout.pp=4 (repeatable)");
}

TrainConfig config_from_flags(const po::variables_map& vm) {
  const std::vector<std::string> sets = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  return vm.count("config") ? read_train_config_file(vm["config"].as<std::string>(), sets)
                            : read_train_config(nlohmann::json::object(), sets);
}

TrainPlan plan_from_flags(const po::variables_map& vm) { return resolve_plan(config_from_flags(vm)); }

}  // namespace trident
