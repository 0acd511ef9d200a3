// The CUDA caching allocator and stream. Blocks are rounded up (512 B under 1 MiB, else 2 MiB
// steps) and, when freed, kept in per-size free lists: after the first forward pass every tensor
// of the next one is served from the cache, with no cudaMalloc (which synchronises the device)
// on the hot path. All work runs on one stream, so a block freed by the host can be handed out
// again at once: any kernel that uses it next is queued after the ones that used it before.
#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "da3/error.hpp"

namespace da3::cuda {

namespace {

std::string mib(size_t b) { return std::to_string((b + (1u << 19)) >> 20) + " MiB"; }

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

class CachingAllocator {
 public:
  void* allocate(size_t bytes) {
    const size_t size = round_size(bytes == 0 ? 1 : bytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(size);
    void* p = nullptr;
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= size;
    } else {
      p = device_malloc(size, bytes);
    }
    sizes_[p] = size;
    stats_.in_use += size;
    if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
    return p;
  }

  void release(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    free_[it->second].push_back(p);
    stats_.in_use -= it->second;
    stats_.cached += it->second;
    sizes_.erase(it);
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    empty_cache_locked();
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void empty_cache_locked() {
    if (stats_.cached == 0) return;
    cudaStreamSynchronize(stream());
    for (auto& [size, blocks] : free_)
      for (void* b : blocks) cudaFree(b);
    free_.clear();
    stats_.cached = 0;
  }

  void* device_malloc(size_t size, size_t asked) {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear the sticky-free error state before retrying
      empty_cache_locked();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      int dev = 0;
      cudaGetDevice(&dev);
      throw Error("out of GPU memory on cuda:" + std::to_string(dev) + ": asked for " + mib(asked) + ", " +
                  mib(free_b) + " free of " + mib(total_b) + " (da3 holds " + mib(stats_.in_use) +
                  " in use); use a smaller model, fewer views or a lower --process-res, or run on the CPU (" +
                  cudaGetErrorString(e) + ")");
    }
    ++stats_.device_allocs;
    return p;
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::map<void*, size_t> sizes_;
  MemoryStats stats_;
};

// Never destroyed: tensors held in static objects may be freed after main returns.
CachingAllocator& allocator() {
  static auto* a = new CachingAllocator();
  return *a;
}

}  // namespace

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(what + ": " + cudaGetErrorString(e));
  }
}

cudaStream_t stream() {
  static thread_local int cached_dev = -1;
  static thread_local cudaStream_t cached = nullptr;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev == cached_dev) return cached;
  static std::mutex mu;
  static std::map<int, cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mu);
  auto it = streams.find(dev);
  if (it == streams.end()) {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    it = streams.emplace(dev, s).first;
  }
  cached_dev = dev;
  cached = it->second;
  return cached;
}

void synchronize(const std::string& what) {
  check(cudaGetLastError(), what + " (launch)");
  check(cudaStreamSynchronize(stream()), what);
}

MemoryStats memory_stats() { return allocator().stats(); }
void release_cached_memory() { allocator().empty_cache(); }

}  // namespace da3::cuda

namespace da3::detail {

std::shared_ptr<void> allocate_device(size_t bytes) {
  void* p = cuda::allocator().allocate(bytes);
  return std::shared_ptr<void>(p, [](void* q) { cuda::allocator().release(q); });
}

}  // namespace da3::detail
