#include "core/cpu/host_block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace trident::cpu {

namespace {

constexpr std::int64_t kMinCapacity = std::int64_t{64} << 20;

class Cache {
 public:
  void* take(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ += static_cast<std::int64_t>(bytes);
      high_water_ = std::max(high_water_, live_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= static_cast<std::int64_t>(bytes);
        ++stats_.hits;
        return p;
      }
      ++stats_.misses;
    }
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= static_cast<std::int64_t>(bytes);
    }
    TRIDENT_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    return p;
  }

  void give(void* p, std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= static_cast<std::int64_t>(bytes);
      if (cached_ + static_cast<std::int64_t>(bytes) <= std::max(high_water_, kMinCapacity)) {
        free_[bytes].push_back(p);
        cached_ += static_cast<std::int64_t>(bytes);
        return;
      }
    }
    std::free(p);
  }

  HostCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    HostCacheStats s = stats_;
    s.cached_bytes = cached_;
    return s;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::int64_t live_ = 0, high_water_ = 0, cached_ = 0;
  HostCacheStats stats_;
};

// Never destroyed: tensors in static storage may be freed after it would have been.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

void* host_block_take(std::size_t bytes) { return cache().take(bytes); }
void host_block_give(void* block, std::size_t bytes) { cache().give(block, bytes); }
HostCacheStats host_cache_stats() { return cache().stats(); }

}  // namespace trident::cpu
