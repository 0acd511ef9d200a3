#include "core/file_pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>

namespace da3::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> by_base;  // base -> bytes
};

Registry& registry() {
  static auto* r = new Registry;  // never destroyed: mappings may outlive static destruction
  return *r;
}

}  // namespace

void register_droppable_mapping(const void* base, size_t bytes) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  r.by_base[reinterpret_cast<uintptr_t>(base)] = bytes;
}

void unregister_droppable_mapping(const void* base) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  r.by_base.erase(reinterpret_cast<uintptr_t>(base));
}

bool drop_file_pages(const void* p, size_t bytes) {
  if (bytes == 0) return false;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);  // held across madvise: the mapping cannot go away meanwhile
  auto it = r.by_base.upper_bound(begin);
  if (it == r.by_base.begin()) return false;
  --it;
  const uintptr_t map_begin = it->first, map_end = it->first + it->second;
  if (begin < map_begin || end > map_end) return false;
  // Rounded out to the kernel's fault-around blocks (64 KiB, aligned), not just to pages: reading
  // the range mapped its neighbours in those blocks too, and they would stay resident (7 MB on
  // DA3-SMALL). A neighbour still in use is read back from the page cache on its next touch.
  constexpr uintptr_t kBlock = uintptr_t(64) << 10;
  const uintptr_t lo = std::max(map_begin, begin / kBlock * kBlock);
  const uintptr_t hi = std::min(map_end, (end + kBlock - 1) / kBlock * kBlock);
  // Advice only: a failure changes memory use, never results.
  ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  return true;
}

}  // namespace da3::detail
