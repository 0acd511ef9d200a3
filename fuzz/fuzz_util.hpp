#pragma once
// Shared by the harnesses: the parsers under test take paths, so each input is written to a
// private scratch directory (under $TMPDIR, removed at exit) first.
#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "da3/tensor.hpp"

namespace da3::fuzz {

inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/da3-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string keep = tmpl;
    std::atexit([] {
      DIR* d = ::opendir(keep.c_str());
      if (d) {
        while (dirent* e = ::readdir(d))
          if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
            ::unlink((keep + "/" + e->d_name).c_str());
        ::closedir(d);
      }
      ::rmdir(keep.c_str());
    });
    return tmpl;
  }();
  return dir;
}

// Empties the scratch directory (files only: the harnesses make no subdirectories).
inline void clear_scratch() {
  const std::string& dir = scratch_dir();
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
  ::closedir(d);
  for (const auto& n : names) ::unlink((dir + "/" + n).c_str());
}

// Writes `bytes` to scratch_dir()/name and returns the path.
inline std::string write_file(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::abort();
  }
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

// Reads every byte of a tensor's storage, so ASan sees an over-read of a view that claims more
// than its mapping holds.
inline uint64_t touch(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return 0;
  const Tensor c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data());
  const size_t n = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// DA3_FUZZ_VERBOSE=1: print each refusal (to check that seeds get as far as intended).
inline void note(const std::exception& e) {
  static const bool verbose = [] {
    const char* v = std::getenv("DA3_FUZZ_VERBOSE");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

// Splits `data` on `sep` (the multi-file harnesses: one part per file).
inline std::vector<std::string_view> split(std::string_view data, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t at = 0;
  for (;;) {
    const size_t next = data.find(sep, at);
    if (next == std::string_view::npos) {
      parts.push_back(data.substr(at));
      return parts;
    }
    parts.push_back(data.substr(at, next - at));
    at = next + sep.size();
  }
}

}  // namespace da3::fuzz
