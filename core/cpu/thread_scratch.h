// Per-thread scratch memory for CPU kernels that need working buffers (attention tiles, packed
// operands): grown on first use, then reused by every later call on the same thread (the worker
// pool's threads are persistent), so kernels do not allocate on the hot path after the first step.
// It holds no tensor and is not counted by the Allocator; each kernel states how much it takes.
#pragma once

#include <cstddef>

namespace trident::cpu {

// At least `floats` floats, 64-byte aligned, contents unspecified. Valid until the next call on this
// thread, so one kernel body at a time uses it (carving it into its buffers).
float* thread_scratch(std::size_t floats);

// `count` doubles from thread_scratch, zero-filled (per-chunk partial sums of column reductions).
double* thread_scratch_doubles(std::size_t count);

// Rounds a float count up to whole 64-byte lines, for carving thread_scratch into aligned parts.
inline constexpr std::size_t scratch_floats(std::size_t floats) { return (floats + 15) / 16 * 16; }

}  // namespace trident::cpu
