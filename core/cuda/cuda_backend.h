// Entry points core/ uses to reach the CUDA backend: the op table and the caching allocator of
// GPU `device`, each created on first use (after checking that the GPU exists and is usable).
#pragma once

#include "core/allocator.h"
#include "core/ops.h"

namespace trident {

const Ops& cuda_ops(int device);
Allocator& cuda_allocator(int device);

}  // namespace trident
