#include "da3/profile.hpp"

#include <sys/resource.h>

#include <atomic>

namespace da3 {

namespace {
std::atomic<uint64_t> g_flops{0};
}

void count_flops(uint64_t flops) { g_flops.fetch_add(flops, std::memory_order_relaxed); }
uint64_t flops_counted() { return g_flops.load(std::memory_order_relaxed); }
void reset_flop_counter() { g_flops.store(0); }

uint64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace da3
