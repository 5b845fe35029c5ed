// Where `trident plot` finds its scripts: experiments/plots/ of the source tree the executable was
// built from (compiled in), so a build works from a fresh clone without installing anything.
#pragma once

#include <string>

namespace trident {

// The path of plot.py; throws naming the path when the source tree has moved or lost it.
std::string plot_script_path();

}  // namespace trident
