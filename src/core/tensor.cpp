#include "da3/tensor.hpp"

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/device_memory.hpp"
#include "core/host_memory.hpp"

namespace da3 {

namespace {

std::shared_ptr<void> device_storage(size_t bytes) {
#ifdef DA3_WITH_CUDA
  return detail::allocate_device(bytes);
#else
  (void)bytes;
  throw Error("Tensor::empty: a CUDA tensor was asked for, but this build has no CUDA (rebuild with nvcc on "
              "PATH, or run with --device cpu)");
#endif
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t w = d < 0 ? d + ndim : d;
  DA3_CHECK(w >= 0 && w < ndim, std::string(op) + ": dimension " + std::to_string(d) +
                                    " out of range for a tensor with " + std::to_string(ndim) +
                                    " dimensions");
  return w;
}

// Reads one element as float (for copies between dtypes and item_f).
float load_as_float(const uint8_t* p, DType t) {
  switch (t) {
    case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::F16: { uint16_t v; std::memcpy(&v, p, 2); return f16_to_f32(v); }
    case DType::BF16: { uint16_t v; std::memcpy(&v, p, 2); return bf16_to_f32(v); }
    case DType::F64: { double v; std::memcpy(&v, p, 8); return static_cast<float>(v); }
    case DType::I64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<float>(v); }
    case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<float>(v); }
    case DType::U8: return static_cast<float>(*p);
    case DType::Bool: return *p ? 1.f : 0.f;
  }
  return 0.f;
}

void store_from_float(uint8_t* p, DType t, float v) {
  switch (t) {
    case DType::F32: std::memcpy(p, &v, 4); break;
    case DType::F16: { uint16_t h = f32_to_f16(v); std::memcpy(p, &h, 2); break; }
    case DType::BF16: { uint16_t h = f32_to_bf16(v); std::memcpy(p, &h, 2); break; }
    case DType::F64: { double d = v; std::memcpy(p, &d, 8); break; }
    case DType::I64: { int64_t i = static_cast<int64_t>(v); std::memcpy(p, &i, 8); break; }
    case DType::I32: { int32_t i = static_cast<int32_t>(v); std::memcpy(p, &i, 4); break; }
    case DType::U8: *p = static_cast<uint8_t>(v); break;
    case DType::Bool: *p = v != 0.f; break;
  }
}

// Calls f(dst_offset_elems, src_offset_elems) over every index of `shape` in row-major order.
template <class F>
void for_each_index(const Shape& shape, const Shape& a_strides, const Shape& b_strides, F&& f) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(oa, ob);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += a_strides[d];
        ob += b_strides[d];
        break;
      }
      oa -= a_strides[d] * (shape[d] - 1);
      ob -= b_strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  // Strides multiply every non-zero extent: a shape whose byte count does not fit int64 (a
  // hostile file's header, even with a 0 elsewhere) is refused before anything overflows.
  int64_t span = static_cast<int64_t>(dtype_size(dtype));
  for (int64_t d : shape) {
    DA3_CHECK(d >= 0, "Tensor::empty: negative size in shape " + shape_str(shape));
    DA3_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(d, 1), &span),
              "Tensor::empty: shape " + shape_str(shape) + " needs more bytes than fit in 64 bits");
  }
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = device == Device::CPU ? detail::allocate_host(t.nbytes()) : device_storage(t.nbytes());
  t.data_ = t.storage_.get();
  t.owning_ = true;
  t.defined_ = true;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.data_, 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> keepalive,
                         Shape strides, Device device) {
  DA3_CHECK(data != nullptr || shape_numel(shape) == 0, "Tensor::from_blob: null data pointer");
  Tensor t;
  t.shape_ = shape;
  t.strides_ = strides.empty() ? contiguous_strides(shape) : std::move(strides);
  DA3_CHECK(t.strides_.size() == shape.size(), "Tensor::from_blob: strides " + shape_str(t.strides_) +
                                                   " do not match shape " + shape_str(shape));
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::move(keepalive);
  t.data_ = data;
  t.owning_ = false;
  t.defined_ = true;
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  DA3_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape),
            "Tensor::from_vector: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  if (!v.empty()) std::memcpy(t.data_, v.data(), v.size() * 4);
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides_[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape_[d] != 1 && strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

template <class T>
void Tensor::check_dtype_for() const {
  DType want;
  if constexpr (std::is_same_v<std::remove_const_t<T>, float>) want = DType::F32;
  else if constexpr (std::is_same_v<std::remove_const_t<T>, double>) want = DType::F64;
  else if constexpr (std::is_same_v<std::remove_const_t<T>, int64_t>) want = DType::I64;
  else if constexpr (std::is_same_v<std::remove_const_t<T>, int32_t>) want = DType::I32;
  else if constexpr (std::is_same_v<std::remove_const_t<T>, uint8_t>) {
    DA3_CHECK(dtype_ == DType::U8 || dtype_ == DType::Bool, "data_as<uint8_t>: tensor is " + describe());
    return;
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, uint16_t>) {
    DA3_CHECK(dtype_ == DType::F16 || dtype_ == DType::BF16, "data_as<uint16_t>: tensor is " + describe());
    return;
  } else static_assert(sizeof(T) == 0, "unsupported element type");
  DA3_CHECK(dtype_ == want, std::string("data_as: expected ") + dtype_name(want) + ", tensor is " + describe());
}

template void Tensor::check_dtype_for<float>() const;
template void Tensor::check_dtype_for<const float>() const;
template void Tensor::check_dtype_for<double>() const;
template void Tensor::check_dtype_for<int64_t>() const;
template void Tensor::check_dtype_for<int32_t>() const;
template void Tensor::check_dtype_for<uint8_t>() const;
template void Tensor::check_dtype_for<uint16_t>() const;
template void Tensor::check_dtype_for<const uint16_t>() const;

Tensor Tensor::view(const Shape& shape) const {
  Shape s = shape;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      DA3_CHECK(infer < 0, "view: more than one -1 in " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    DA3_CHECK(known > 0 && numel() % known == 0, "view: cannot infer -1 in " + shape_str(shape) +
                                                     " for " + std::to_string(numel()) + " elements");
    s[infer] = numel() / known;
  }
  DA3_CHECK(shape_numel(s) == numel(), "view: shape " + shape_str(shape) + " does not match " +
                                           std::to_string(numel()) + " elements of " + describe());
  DA3_CHECK(is_contiguous(), "view: " + describe() + " is not contiguous; use reshape() (copies) "
                             "or contiguous() first");
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  DA3_CHECK(static_cast<int64_t>(dims.size()) == dim(),
            "permute: got " + std::to_string(dims.size()) + " dims for " + describe());
  std::vector<bool> seen(dim(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    DA3_CHECK(!seen[d], "permute: dimension " + std::to_string(d) + " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  a = wrap_dim(a, dim(), "transpose");
  b = wrap_dim(b, dim(), "transpose");
  Tensor t = *this;
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  d = wrap_dim(d, dim(), "slice");
  DA3_CHECK(0 <= start && start <= end && end <= shape_[d],
            "slice: range [" + std::to_string(start) + ", " + std::to_string(end) + ") out of bounds for size " +
                std::to_string(shape_[d]) + " of " + describe());
  Tensor t = *this;
  t.data_ = static_cast<uint8_t*>(data_) + start * strides_[d] * static_cast<int64_t>(dtype_size(dtype_));
  t.shape_[d] = end - start;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  if (index < 0) index += shape_[d];
  DA3_CHECK(0 <= index && index < shape_[d],
            "select: index " + std::to_string(index) + " out of bounds for size " + std::to_string(shape_[d]));
  Tensor t = slice(d, index, index + 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  if (d < 0) d += dim() + 1;
  DA3_CHECK(0 <= d && d <= dim(), "unsqueeze: dimension out of range for " + describe());
  Tensor t = *this;
  const int64_t st = d < dim() ? strides_[d] * shape_[d] : 1;
  t.shape_.insert(t.shape_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, st);
  return t;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  DA3_CHECK(shape_[d] == 1, "squeeze: dimension " + std::to_string(d) + " of " + describe() + " is not 1");
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (is_contiguous()) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  DA3_CHECK(defined_, "clone: undefined tensor");
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  Tensor t = empty(shape_, dtype, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  DA3_CHECK(defined_, "to(device): undefined tensor");
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  DA3_CHECK(src.shape_ == shape_, "copy_from: shape " + shape_str(src.shape_) + " into " + describe());
  if (device_ != Device::CPU || src.device_ != Device::CPU) {
#ifdef DA3_WITH_CUDA
    return detail::copy_device(*this, src);
#else
    throw Error("copy_from: " + src.describe() + " into " + describe() + ": this build has no CUDA");
#endif
  }
  const size_t n = static_cast<size_t>(numel());
  if (n == 0) return;
  if (is_contiguous() && src.is_contiguous()) {
    if (src.dtype_ == dtype_) {
      std::memmove(data_, src.data_, nbytes());
      return;
    }
    // The vectorised paths for the conversions the engine does in bulk.
    if (src.dtype_ == DType::F32 && dtype_ == DType::BF16)
      return f32_to_bf16(static_cast<const float*>(src.data_), static_cast<uint16_t*>(data_), n);
    if (src.dtype_ == DType::BF16 && dtype_ == DType::F32)
      return bf16_to_f32(static_cast<const uint16_t*>(src.data_), static_cast<float*>(data_), n);
    if (src.dtype_ == DType::F32 && dtype_ == DType::F16)
      return f32_to_f16(static_cast<const float*>(src.data_), static_cast<uint16_t*>(data_), n);
    if (src.dtype_ == DType::F16 && dtype_ == DType::F32)
      return f16_to_f32(static_cast<const uint16_t*>(src.data_), static_cast<float*>(data_), n);
  }
  const size_t ds = dtype_size(dtype_), ss = dtype_size(src.dtype_);
  auto* dp = static_cast<uint8_t*>(data_);
  const auto* sp = static_cast<const uint8_t*>(src.data_);
  const bool same = dtype_ == src.dtype_;
  if (same && dim() >= 2 && strides_.back() == 1 && src.strides_.back() == 1) {
    // Rows contiguous on both sides (a slice or select of a token tensor): one memcpy per row.
    // Element by element, the backbone's per-layer feature copies took 90 ms of a 4-view forward.
    const Shape outer(shape_.begin(), shape_.end() - 1);
    const Shape od(strides_.begin(), strides_.end() - 1), os(src.strides_.begin(), src.strides_.end() - 1);
    const size_t row = static_cast<size_t>(shape_.back()) * ds;
    for_each_index(outer, od, os, [&](int64_t o, int64_t i) { std::memmove(dp + o * ds, sp + i * ds, row); });
    return;
  }
  const bool exact_int = !dtype_is_float(dtype_) && !dtype_is_float(src.dtype_);
  DA3_CHECK(same || !exact_int || (dtype_size(dtype_) >= ss),
            std::string("copy_from: narrowing integer copy ") + dtype_name(src.dtype_) + " -> " + dtype_name(dtype_));
  for_each_index(shape_, strides_, src.strides_, [&](int64_t od, int64_t os) {
    if (same) {
      std::memcpy(dp + od * ds, sp + os * ss, ds);
    } else if (dtype_ == DType::F64 && src.dtype_ != DType::I64) {
      const double v = load_as_float(sp + os * ss, src.dtype_);
      std::memcpy(dp + od * ds, &v, 8);
    } else if (exact_int && dtype_ == DType::I64) {
      int64_t v = 0;
      if (src.dtype_ == DType::I32) { int32_t w; std::memcpy(&w, sp + os * ss, 4); v = w; }
      else v = sp[os * ss];
      std::memcpy(dp + od * ds, &v, 8);
    } else {
      store_from_float(dp + od * ds, dtype_, load_as_float(sp + os * ss, src.dtype_));
    }
  });
}

void Tensor::fill(float value) {
  DA3_CHECK(defined_, "fill: undefined tensor");
  if (device_ != Device::CPU) {
#ifdef DA3_WITH_CUDA
    return detail::fill_device(*this, value);
#else
    throw Error("fill: " + describe() + ": this build has no CUDA");
#endif
  }
  const size_t es = dtype_size(dtype_);
  uint8_t buf[8];
  store_from_float(buf, dtype_, value);
  auto* dp = static_cast<uint8_t*>(data_);
  if (is_contiguous() && dtype_ == DType::F32) {
    float* f = static_cast<float*>(data_);
    for (int64_t i = 0, n = numel(); i < n; ++i) f[i] = value;
    return;
  }
  for_each_index(shape_, strides_, strides_, [&](int64_t o, int64_t) { std::memcpy(dp + o * es, buf, es); });
}

size_t Tensor::offset_bytes(const std::vector<int64_t>& index) const {
  DA3_CHECK(static_cast<int64_t>(index.size()) == dim(), "item: index rank does not match " + describe());
  int64_t off = 0;
  for (int64_t d = 0; d < dim(); ++d) {
    DA3_CHECK(index[d] >= 0 && index[d] < shape_[d], "item: index out of bounds for " + describe());
    off += index[d] * strides_[d];
  }
  return static_cast<size_t>(off) * dtype_size(dtype_);
}

float Tensor::item_f(const std::vector<int64_t>& index) const {
  if (device_ != Device::CPU) return to(Device::CPU).item_f(index);
  return load_as_float(static_cast<const uint8_t*>(data_) + offset_bytes(index), dtype_);
}

std::string Tensor::describe() const {
  if (!defined_) return "undefined tensor";
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_str(shape_) << " " << device_name(device_)
     << (is_contiguous() ? "" : " strided " + shape_str(strides_));
  return os.str();
}

}  // namespace da3
