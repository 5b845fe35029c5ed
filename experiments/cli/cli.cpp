#include "experiments/cli/cli.h"

#include <cstdio>

#include "parallel/communicator.h"

namespace trident {

Command make_info_command();
Command make_mesh_command();
Command make_data_command();
Command make_schedule_command();
Command make_train_command();
Command make_export_command();
Command make_generate_command();
Command make_sweep_command();
Command make_plot_command();
Command make_simulate_command();
Command make_calibrate_command();
Command make_search_command();

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {make_train_command(), make_mesh_command(), make_data_command(), make_schedule_command(),
                                           make_info_command(), make_export_command(), make_generate_command(),
                                           make_sweep_command(), make_plot_command(), make_simulate_command(),
                                           make_calibrate_command(), make_search_command()};
  return all;
}

void print0(const Communicator& world, const std::string& text) {
  if (world.rank() != 0) return;
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace trident
