#pragma once
// A file that appears at its final path only when complete: written under a temporary name in
// the same directory, flushed to disk, then renamed. If commit() is never reached (an error, an
// exception) the temporary file is removed and any earlier file at `path` is left untouched.
#include <cstddef>
#include <string>

namespace da3 {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace da3
