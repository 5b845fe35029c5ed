// Exercises every communicator of a DeviceMesh with operations whose results each rank can
// predict from the MeshLayout alone (sums, orders and peers of world ranks), so a wrong split, a
// group in the wrong order or a mismatched peer shows up as a named failure rather than as a
// silently wrong gradient later.
#pragma once

#include <string>
#include <vector>

#include "parallel/device_mesh.h"

namespace trident {

struct MeshCheckResult {
  int checks = 0;                     // checks run on this rank
  std::vector<std::string> failures;  // "tp all_gather: got [..], expected [..]"
};

// Collective over the whole world: every rank must call it.
MeshCheckResult check_mesh_communicators(const DeviceMesh& mesh);

}  // namespace trident
