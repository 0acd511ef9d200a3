#pragma once
// Tensor: shape, strides (in elements), dtype, device, and storage that is either owned
// (64-byte aligned) or borrowed (a view on memory kept alive by someone else, e.g. a
// memory-mapped checkpoint). Views share storage; nothing copies unless the name says so.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "da3/dtype.hpp"
#include "da3/error.hpp"

namespace da3 {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  // Owning, uninitialised, contiguous, 64-byte aligned (CUDA: from the caching allocator).
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value, DType dtype = DType::F32);
  // A view on memory owned elsewhere; `keepalive` (may be null) keeps that memory valid.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype,
                          std::shared_ptr<void> keepalive = nullptr, Shape strides = {},
                          Device device = Device::CPU);
  // Owning copy of host data.
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);

  bool defined() const { return defined_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_contiguous() const;
  // True when this tensor allocated its memory (not a view on a mapped file or a blob).
  bool owns_memory() const { return owning_; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T> T* data_as() { check_dtype_for<T>(); return static_cast<T*>(data_); }
  template <class T> const T* data_as() const { check_dtype_for<T>(); return static_cast<const T*>(data_); }

  // Views (no copy). view() requires a layout that allows it and throws otherwise.
  Tensor view(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;  // [start, end)
  Tensor select(int64_t dim, int64_t index) const;               // removes `dim`
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;

  // reshape: a view when the layout allows it, else a contiguous copy (as torch.reshape).
  Tensor reshape(const Shape& shape) const;
  // contiguous: itself when already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  Tensor clone() const;           // always a contiguous owning copy
  Tensor to(DType dtype) const;   // converts (copy); same dtype returns a clone
  Tensor to(Device device) const; // a contiguous copy on `device`; the same device returns itself
  void copy_from(const Tensor& src);  // same shape; converts dtype; any strides
  void fill(float value);

  // Element access for tests and small code paths (slow): index per dimension.
  float item_f(const std::vector<int64_t>& index) const;

  std::string describe() const;  // "f32[2, 3] cpu contiguous"

 private:
  template <class T> void check_dtype_for() const;
  size_t offset_bytes(const std::vector<int64_t>& index) const;

  std::shared_ptr<void> storage_;  // owner of the memory (allocation or keepalive)
  void* data_ = nullptr;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  bool owning_ = false;
  bool defined_ = false;
};

Shape contiguous_strides(const Shape& shape);

}  // namespace da3
