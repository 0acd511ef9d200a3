#include "da3/profile.hpp"

#include <sys/resource.h>

#include <atomic>
#include <cstdio>

namespace da3 {

namespace {
std::atomic<uint64_t> g_flops{0};
}

void count_flops(uint64_t flops) { g_flops.fetch_add(flops, std::memory_order_relaxed); }
uint64_t flops_counted() { return g_flops.load(std::memory_order_relaxed); }
void reset_flop_counter() { g_flops.store(0); }

uint64_t peak_rss_bytes() {
  // VmHWM belongs to this program's address space. getrusage's ru_maxrss survives execve, so a
  // process started from a big parent (a Python benchmark driver with torch loaded) would
  // report the parent's peak instead of its own.
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    unsigned long long kib = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) {
        found = true;
        break;
      }
    std::fclose(f);
    if (found) return static_cast<uint64_t>(kib) * 1024;
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace da3
