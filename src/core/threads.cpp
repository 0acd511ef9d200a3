#include "da3/threads.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "da3/error.hpp"
#include "da3/log.hpp"

namespace da3 {

namespace {

int default_threads() {
  if (const char* env = std::getenv("DA3_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end && *end == '\0' && n > 0 && n <= kMaxThreads) return static_cast<int>(n);
    log_once(LogLevel::Warn, "DA3_NUM_THREADS",
             "DA3_NUM_THREADS='" + std::string(env) + "' is not an integer in [1, " + std::to_string(kMaxThreads) +
                 "]; using all cores");
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

std::atomic<int> g_threads{0};

}  // namespace

void set_num_threads(int n) {
  if (n > kMaxThreads)
    throw Error(std::to_string(n) + " threads requested; da3 runs at most " + std::to_string(kMaxThreads) +
                " (this machine has " + std::to_string(std::thread::hardware_concurrency()) + " cores)");
  const int t = n > 0 ? n : default_threads();
  g_threads.store(t);
  // oneDNN (Debian's build) runs on the same GNU OpenMP runtime, so this sets both.
  omp_set_num_threads(t);
}

int num_threads() {
  int t = g_threads.load();
  if (t == 0) {
    set_num_threads(0);
    t = g_threads.load();
  }
  return t;
}

}  // namespace da3
