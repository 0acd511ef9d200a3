#pragma once
// NumPy .npy / .npz files without NumPy or zlib. Written archives store their members
// uncompressed (numpy.load reads them like np.savez output); the reader takes stored members
// only, i.e. np.savez files, not np.savez_compressed ones (it says so).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "da3/tensor.hpp"

namespace da3::io {

// CRC-32 (the zip / PNG polynomial), continuing from `crc`.
uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

// The .npy bytes of a contiguous CPU tensor (f32, f64, u8, bool, i32, i64), format 1.0.
std::string npy_header(const Tensor& t);

// Builds a .npz at `path` atomically: nothing appears there until commit().
class NpzWriter {
 public:
  explicit NpzWriter(const std::string& path);
  ~NpzWriter();
  void add(const std::string& name, const Tensor& t);  // stored as "<name>.npy"
  // A 1-D numpy unicode array (dtype '<U<longest>', what np.array(list_of_str) makes), from
  // UTF-8 strings; numpy.load reads it without allow_pickle.
  void add_strings(const std::string& name, const std::vector<std::string>& values);
  void commit();

 private:
  void add_member(const std::string& name, const std::string& npy_header, const void* data, size_t nbytes);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses .npy bytes (little-endian or byte-order-free dtypes, C order).
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& what);
Tensor read_npy(const std::string& path);
// Members by name without ".npy". A unicode string array ('<U<width>') comes back as int32
// code points with one more, last dimension of `width`; npz_strings() decodes it.
std::map<std::string, Tensor> read_npz(const std::string& path);
// The strings of a (N, width) code-point tensor as read_npz returns a '<U' member, as UTF-8;
// throws naming `what` for any other tensor.
std::vector<std::string> npz_strings(const Tensor& t, const std::string& what);

}  // namespace da3::io
