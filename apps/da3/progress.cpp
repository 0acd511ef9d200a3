// See progress.hpp.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace da3::cli {

Progress::Progress(bool quiet) : shown_(!quiet && ::isatty(2)), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { end(); }

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::scene(const std::string& label) { scene_ = label; }

void Progress::stage(const std::string& what) {
  if (!shown_) return;
  // \r and "erase to end of line" redraw the one line in place.
  std::fprintf(stderr, "\r%s%s%s  %.1f s\033[K", scene_.c_str(), scene_.empty() ? "" : ": ", what.c_str(), elapsed_s());
  std::fflush(stderr);
  open_ = true;
}

void Progress::end() {
  if (!open_) return;
  std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace da3::cli
