#include "core/host_memory.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "da3/error.hpp"
#include "da3/profile.hpp"

namespace da3 {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kLargeBlock = size_t(1) << 20;  // below this, malloc's free lists do well
constexpr size_t kGranule = size_t(64) << 10;    // large sizes rounded up to this

std::atomic<uint64_t> g_live{0}, g_peak{0};

void note_alloc(size_t n) {
  const uint64_t now = g_live.fetch_add(n, std::memory_order_relaxed) + n;
  uint64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void note_free(size_t n) { g_live.fetch_sub(n, std::memory_order_relaxed); }

// Freed large blocks by size. Bounded, so a pass over unusual shapes cannot pin its memory.
class BlockCache {
 public:
  void* take(size_t size) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.find(size);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    cached_ -= size;
    return p;
  }
  void give(void* p, size_t size) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (cached_ + size <= limit()) {
        free_.emplace(size, p);
        cached_ += size;
        return;
      }
    }
    ::munmap(p, size);
  }
  uint64_t cached() {
    std::lock_guard<std::mutex> lk(mu_);
    return cached_;
  }

 private:
  static size_t limit() {
    // DA3_TENSOR_CACHE_MB bounds the cache (0 turns it off); 512 MiB by default, more than a
    // DA3-LARGE forward's largest set of simultaneously freed buffers at 504x378.
    static const size_t v = [] {
      const char* e = std::getenv("DA3_TENSOR_CACHE_MB");
      return (e && *e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t(512)) << 20;
    }();
    return v;
  }
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: tensors may outlive static teardown
  return *c;
}

}  // namespace

uint64_t tensor_bytes_live() { return g_live.load(std::memory_order_relaxed); }
uint64_t tensor_bytes_peak() { return g_peak.load(std::memory_order_relaxed); }
void reset_tensor_bytes_peak() { g_peak.store(g_live.load()); }
uint64_t tensor_cache_bytes() { return cache().cached(); }

namespace detail {

std::shared_ptr<void> allocate_host(size_t bytes) {
  if (bytes < kLargeBlock) {
    const size_t rounded = bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (!p) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
    note_alloc(rounded);
    return std::shared_ptr<void>(p, [rounded](void* q) {
      note_free(rounded);
      std::free(q);
    });
  }
  const size_t size = (bytes + kGranule - 1) / kGranule * kGranule;
  void* p = cache().take(size);
  if (!p) {
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw Error("out of memory mapping " + std::to_string(bytes >> 20) + " MiB for a tensor");
  }
  note_alloc(size);
  return std::shared_ptr<void>(p, [size](void* q) {
    note_free(size);
    cache().give(q, size);
  });
}

}  // namespace detail
}  // namespace da3
