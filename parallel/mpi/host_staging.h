// Device tensors through the MPI backend. MPI moves host memory, so a tensor on a GPU is copied
// into a pinned host buffer before the transfer and back after it. This is the slow fallback (two
// PCIe copies and a host sync per operation) that lets several ranks share one GPU, which NCCL
// refuses, and lets a CUDA model run with comm = "mpi".
//
// Pinned buffers come from cudaHostAlloc (portable: usable from every device's context) and are
// cached by exact size: a training step moves the same sizes every step, so after the first step
// no allocation happens. A buffer that was copied back to a device returns to the cache with an
// event, and is reused only once that copy has read it.
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace trident {

// A pinned host buffer and the event after the last copy that reads it (kept CUDA-free here:
// `event` is a cudaEvent_t created on `event_device`).
struct PinnedBlock {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  void* event = nullptr;
  int event_device = -1;
  bool pending = false;  // `event` marks a copy that may still read the buffer
};

// One tensor's bytes as MPI sees them, for the life of one operation. A host tensor is used in
// place (no copy); a CUDA tensor gets a pinned host buffer.
class StagedTensor {
 public:
  StagedTensor() = default;
  // fill: copy the device tensor into the buffer now (device→host on the device's compute stream,
  //   then a host sync of that stream, so everything the compute stream produced is included).
  // write_back: copy_back() moves the buffer into the tensor (the operation writes it).
  StagedTensor(const Tensor& t, bool fill, bool write_back);
  StagedTensor(StagedTensor&& other) noexcept;
  StagedTensor& operator=(StagedTensor&& other) noexcept;
  StagedTensor(const StagedTensor&) = delete;
  StagedTensor& operator=(const StagedTensor&) = delete;
  ~StagedTensor();  // returns the buffer to the cache

  // What MPI reads or writes: the tensor's own memory on the host, else the pinned buffer.
  void* data() const { return block_.ptr ? block_.ptr : tensor_.raw(); }
  bool staged() const { return block_.ptr != nullptr; }

  // After the transfer: host→device copy of the buffer into the tensor on the device's compute
  // stream when write_back was asked for (later ops on that stream see the data; the host does not
  // wait). Otherwise, and for host tensors, nothing.
  void copy_back();

  // For a transfer given up on that may still write the buffer: the buffer is never reused.
  void abandon() noexcept;

 private:
  void release() noexcept;

  Tensor tensor_;
  PinnedBlock block_;  // empty for a host tensor
  bool write_back_ = false;
  bool copied_back_ = false;
};

}  // namespace trident
