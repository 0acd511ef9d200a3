// See process_memory.hpp.
#include "server/process_memory.hpp"

#include <fstream>
#include <string>

namespace da3::server {

ProcessMemory process_memory() {
  ProcessMemory m;
  std::ifstream f("/proc/self/status");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key) {
    if (key == "VmRSS:" && f >> kb >> unit) m.rss_bytes = kb * 1024;
    else if (key == "VmHWM:" && f >> kb >> unit) m.peak_rss_bytes = kb * 1024;
    else f.ignore(1 << 20, '\n');
  }
  return m;
}

}  // namespace da3::server
