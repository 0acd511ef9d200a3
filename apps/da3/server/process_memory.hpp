#pragma once
// This process's resident memory, from /proc/self/status (VmRSS, VmHWM); 0 where unreadable.
#include <cstdint>

namespace da3::server {

struct ProcessMemory {
  int64_t rss_bytes = 0, peak_rss_bytes = 0;
};
ProcessMemory process_memory();

}  // namespace da3::server
