#pragma once
// safetensors files: read memory-mapped with every tensor a zero-copy view, validated in full
// before any tensor is handed out; written atomically (temporary name, then rename).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "da3/tensor.hpp"

namespace da3 {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  size_t begin = 0;  // byte range inside the data section
  size_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates the header: size field within the file, JSON well formed, every
  // dtype known, shape x element size equal to the byte range, ranges inside the data section
  // and not overlapping. Throws da3::Error naming the file (and tensor) on any failure.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // in file order
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  // A view on the mapped bytes; it keeps the mapping alive for as long as it lives.
  Tensor tensor(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const;
  // Drops this process's resident copy of the mapped pages (the page cache keeps them). Views stay
  // valid: a page touched again is read back from the file. For after load, once the weights
  // have been copied or repacked where needed, so the checkpoint is not counted twice in the
  // resident set.
  void release_resident_pages() const;

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;  // the mmap, unmapped when the last view dies
  const uint8_t* data_ = nullptr;  // start of the data section
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  size_t file_size_ = 0;
  size_t mapping_size_ = 0;
};

// Parses a safetensors dtype string ("F32", "BF16", ...); throws for one we do not support.
DType safetensors_dtype(const std::string& s);
const char* safetensors_dtype_name(DType t);

// Writes tensors (any strides; written contiguous) to `path` atomically: a temporary file in the
// same directory, fsync'd, then renamed over `path`. Nothing is left behind on failure.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace da3
