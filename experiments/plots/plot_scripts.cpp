#include "experiments/plots/plot_scripts.h"

#include <filesystem>

#include "core/error.h"

namespace trident {

std::string plot_script_path() {
  const std::filesystem::path script = std::filesystem::path(TRIDENT_PLOTS_DIR) / "plot.py";
  TRIDENT_CHECK(std::filesystem::is_regular_file(script), "the plot scripts are not at ", script.string(),
                " (this executable was built from that source tree): rebuild from the current checkout");
  return script.string();
}

}  // namespace trident
