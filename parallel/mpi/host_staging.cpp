#include "parallel/mpi/host_staging.h"

#include <map>
#include <mutex>
#include <utility>

#include "core/error.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#endif

namespace trident {

#ifdef TRIDENT_HAVE_CUDA
namespace {

cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }

// Free pinned buffers by exact size. Never freed (cudaFreeHost can synchronise the whole device, and
// staged sizes repeat every step), and deliberately leaked at exit: a static StagedTensor destroyed
// after this cache would otherwise return its buffer to a dead map.
class PinnedCache {
 public:
  static PinnedCache& get() {
    static auto* cache = new PinnedCache();
    return *cache;
  }

  PinnedBlock acquire(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto [first, last] = free_.equal_range(bytes);
      for (auto it = first; it != last; ++it) {
        PinnedBlock& b = it->second;
        if (b.pending) {
          const cudaError_t e = cudaEventQuery(as_event(b.event));
          if (e == cudaErrorNotReady) {
            cudaGetLastError();  // an answer, not an error: keep it out of the next launch check
            continue;            // its host→device copy has not read it yet
          }
          TRIDENT_CUDA_CHECK(e);
          b.pending = false;
        }
        PinnedBlock out = b;
        free_.erase(it);
        return out;
      }
    }
    PinnedBlock b;
    b.bytes = bytes;
    TRIDENT_CUDA_CHECK(cudaHostAlloc(&b.ptr, bytes, cudaHostAllocPortable));
    return b;
  }

  void release(const PinnedBlock& b) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace(b.bytes, b);
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, PinnedBlock> free_;
};

}  // namespace
#endif

StagedTensor::StagedTensor(const Tensor& t, bool fill, bool write_back) : tensor_(t), write_back_(write_back) {
  if (!t.defined() || !t.device().is_cuda() || t.nbytes() == 0) return;  // host memory: MPI uses it as it is
#ifdef TRIDENT_HAVE_CUDA
  block_ = PinnedCache::get().acquire(t.nbytes());
  if (fill) {
    const int device = t.device().index;
    CudaDeviceGuard guard(device);
    const cudaStream_t stream = CudaContext::get(device).compute_stream();
    try {
      TRIDENT_CUDA_CHECK(cudaMemcpyAsync(block_.ptr, t.raw(), t.nbytes(), cudaMemcpyDeviceToHost, stream));
      stream_synchronize(stream);
    } catch (...) {
      release();
      throw;
    }
  }
#else
  TRIDENT_FAIL("a ", t.device().str(),
               " tensor in a CPU-only build: this cannot happen, the build has no CUDA backend");
#endif
}

StagedTensor::StagedTensor(StagedTensor&& other) noexcept
    : tensor_(std::move(other.tensor_)),
      block_(std::exchange(other.block_, PinnedBlock{})),
      write_back_(other.write_back_),
      copied_back_(other.copied_back_) {}

StagedTensor& StagedTensor::operator=(StagedTensor&& other) noexcept {
  if (this != &other) {
    release();
    tensor_ = std::move(other.tensor_);
    block_ = std::exchange(other.block_, PinnedBlock{});
    write_back_ = other.write_back_;
    copied_back_ = other.copied_back_;
  }
  return *this;
}

StagedTensor::~StagedTensor() { release(); }

void StagedTensor::copy_back() {
  if (!block_.ptr || !write_back_ || copied_back_) return;
#ifdef TRIDENT_HAVE_CUDA
  const int device = tensor_.device().index;
  CudaDeviceGuard guard(device);
  const cudaStream_t stream = CudaContext::get(device).compute_stream();
  TRIDENT_CUDA_CHECK(cudaMemcpyAsync(tensor_.raw(), block_.ptr, block_.bytes, cudaMemcpyHostToDevice, stream));
  // The buffer may be reused once this copy has read it: an event marks that point.
  if (block_.event_device != device) {
    if (block_.event) cudaEventDestroy(as_event(block_.event));
    block_.event = nullptr;
    cudaEvent_t e = nullptr;
    TRIDENT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    block_.event = e;
    block_.event_device = device;
  }
  TRIDENT_CUDA_CHECK(cudaEventRecord(as_event(block_.event), stream));
  block_.pending = true;
  copied_back_ = true;
#endif
}

void StagedTensor::abandon() noexcept {
  block_ = PinnedBlock{};  // leaked on purpose: a transfer may still write it
  tensor_ = Tensor();
}

void StagedTensor::release() noexcept {
  if (!block_.ptr) return;
#ifdef TRIDENT_HAVE_CUDA
  try {
    PinnedCache::get().release(block_);
  } catch (...) {
    // Out of memory growing the free list: the buffer is simply not reused.
  }
#endif
  block_ = PinnedBlock{};
}

}  // namespace trident
