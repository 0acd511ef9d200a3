#include "core/host_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/profile.hpp"

namespace da3 {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kLargeBlock = size_t(64) << 10;  // below this, malloc's free lists do well
constexpr size_t kChunk = size_t(256) << 20;     // address space reserved at a time

std::atomic<uint64_t> g_live{0}, g_peak{0};

void note_alloc(size_t n) {
  const uint64_t now = g_live.fetch_add(n, std::memory_order_relaxed) + n;
  uint64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void note_free(size_t n) { g_live.fetch_sub(n, std::memory_order_relaxed); }

// Large tensors come from a few big mappings, handed out first fit (oldest mapping, then lowest
// address) and coalesced when freed. Pages stay faulted in after a free, so the next forward pass
// reuses them with no page-fault or zeroing cost; and because a freed range can serve any smaller
// request (not only its own size, as a by-size cache would), the resident footprint stays close
// to the peak of live tensors rather than to the sum of every size ever freed.
class Arena {
 public:
  // A block of `size` bytes (a multiple of granule()) and the index of the mapping it lies in;
  // nullptr when the OS refuses.
  char* take(size_t size, int* chunk_index) {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second.size < size) continue;
      const auto [chunk, p] = it->first;
      const Range r = it->second;
      free_.erase(it);
      if (r.size > size) free_.emplace(Key{chunk, p + size}, Range{r.size - size, r.released});
      touch(chunk, p + size);
      *chunk_index = chunk;
      return p;
    }
    // No MAP_NORESERVE: a request larger than the machine can back must fail here, with an
    // error, not later in the OOM killer when its pages are touched.
    const size_t bytes = std::max(kChunk, size);
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char* p = static_cast<char*>(m);
    *chunk_index = static_cast<int>(touched_end_.size());
    touched_end_.push_back(p + size);
    if (bytes > size) free_.emplace(Key{*chunk_index, p + size}, Range{bytes - size, false});
    return p;
  }

  void give(char* p, size_t size, int chunk) {
    std::lock_guard<std::mutex> lk(mu_);
    Range r{size, false};
    auto next = free_.lower_bound(Key{chunk, p});
    if (next != free_.end() && next->first == Key{chunk, p + size}) {
      r.size += next->second.size;
      next = free_.erase(next);
    }
    auto it = free_.end();
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first.first == chunk && prev->first.second + prev->second.size == p) {
        prev->second.size += r.size;
        prev->second.released = false;
        it = prev;
      }
    }
    if (it == free_.end()) it = free_.emplace(Key{chunk, p}, r).first;
    trim(it);
  }

  // Freed bytes that may still be resident (an upper bound).
  uint64_t retained() {
    std::lock_guard<std::mutex> lk(mu_);
    return retained_locked();
  }

  static size_t granule() {
    // madvise works on whole pages: on a kernel with 16 or 64 KiB pages, releasing a range that
    // is not page-aligned would zero the live neighbour sharing its last page.
    static const size_t g = std::max<size_t>(size_t(4) << 10, static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
    return g;
  }

 private:
  // Ordered by mapping, oldest first, then address: first fit then prefers memory that has been
  // touched before, and ranges of different mappings never merge even when they are adjacent.
  using Key = std::pair<int, char*>;
  struct Range {
    size_t size;
    bool released;  // pages given back since last used; a merge with a used range clears it
  };
  void touch(int chunk, char* end) { touched_end_[chunk] = std::max(touched_end_[chunk], end); }

  size_t resident(const Key& k, const Range& r) const {
    if (r.released) return 0;
    char* const end = touched_end_[k.first];
    return k.second >= end ? 0 : static_cast<size_t>(std::min(end, k.second + r.size) - k.second);
  }
  uint64_t retained_locked() const {
    uint64_t n = 0;
    for (const auto& [k, r] : free_) n += resident(k, r);
    return n;
  }

  // Beyond the retention limit, free ranges give their pages back (they stay mapped and fault in
  // as zero pages when used again): the one just freed first, then the largest.
  void trim(std::map<Key, Range>::iterator just_freed) {
    if (retained_locked() <= limit()) return;
    release(just_freed);
    while (retained_locked() > limit()) {
      auto big = std::max_element(free_.begin(), free_.end(), [this](const auto& a, const auto& b) {
        return resident(a.first, a.second) < resident(b.first, b.second);
      });
      if (big == free_.end() || resident(big->first, big->second) == 0) break;
      release(big);
    }
  }
  void release(std::map<Key, Range>::iterator it) {
    const size_t n = resident(it->first, it->second);
    if (n > 0) ::madvise(it->first.second, n, MADV_DONTNEED);
    it->second.released = true;
  }

  static size_t limit() {
    // DA3_TENSOR_CACHE_MB bounds the freed-but-resident bytes kept for reuse (0: every free
    // gives its pages back); 512 MiB by default.
    // A value that is not a whole number of MiB in range is warned about and the default used,
    // as DA3_NUM_THREADS does (strtoull took "abc" as 0 and "-5" as 2^64 - 5, silently).
    static const size_t v = [] {
      constexpr long long kDefault = 512, kMax = 1ll << 24;  // 16 TiB
      const char* e = std::getenv("DA3_TENSOR_CACHE_MB");
      if (!e || !*e) return size_t(kDefault) << 20;
      char* end = nullptr;
      errno = 0;
      const long long mb = std::strtoll(e, &end, 10);
      if (end != e && *end == '\0' && errno == 0 && mb >= 0 && mb <= kMax) return size_t(mb) << 20;
      log_once(LogLevel::Warn, "DA3_TENSOR_CACHE_MB",
               "DA3_TENSOR_CACHE_MB='" + std::string(e) + "' is not a whole number of MiB in [0, " + std::to_string(kMax) +
                   "]; using the default " + std::to_string(kDefault));
      return size_t(kDefault) << 20;
    }();
    return v;
  }

  std::mutex mu_;
  std::map<Key, Range> free_;
  // Per mapping: nothing at or above was ever handed out, so it was never resident.
  std::vector<char*> touched_end_;
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: tensors may outlive static teardown
  return *a;
}

}  // namespace

uint64_t tensor_bytes_live() { return g_live.load(std::memory_order_relaxed); }
uint64_t tensor_bytes_peak() { return g_peak.load(std::memory_order_relaxed); }
void reset_tensor_bytes_peak() { g_peak.store(g_live.load()); }
uint64_t tensor_cache_bytes() { return arena().retained(); }

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
  const size_t g = Arena::granule();
  if (bytes > (size_t(1) << 48)) throw Error("out of memory: a tensor of " + std::to_string(bytes) + " bytes");
  const size_t size = (bytes + g - 1) / g * g;
  int chunk = 0;
  char* p = arena().take(size, &chunk);
  if (!p) throw Error("out of memory mapping " + std::to_string(bytes >> 20) + " MiB for a tensor");
  note_alloc(size);
  return std::shared_ptr<void>(p, [size, chunk](void* q) {
    note_free(size);
    arena().give(static_cast<char*>(q), size, chunk);
  });
}

std::shared_ptr<void> allocate_host_lasting(size_t bytes) {
  if (bytes > (size_t(1) << 48)) throw Error("out of memory: a tensor of " + std::to_string(bytes) + " bytes");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = std::max<size_t>(page, (bytes + page - 1) / page * page);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Error("out of memory mapping " + std::to_string(bytes >> 20) + " MiB for weights");
  note_alloc(size);
  return std::shared_ptr<void>(p, [size](void* q) {
    note_free(size);
    munmap(q, size);
  });
}

}  // namespace detail
}  // namespace da3
