#include "nn/elementwise.hpp"

#include <algorithm>
#include <cmath>

#ifdef DA3_WITH_CUDA
#include "nn/cuda_ops.hpp"
#endif

namespace da3::nn {

namespace {
void check(const Tensor& t, const char* op) {
  DA3_CHECK(t.dtype() == DType::F32 && t.is_contiguous(),
            std::string(op) + ": contiguous f32 only, got " + t.describe());
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (a.device() == Device::CUDA || b.device() == Device::CUDA) {
    DA3_CHECK(a.device() == b.device(), "add: tensors on different devices: " + a.describe() + " and " + b.describe());
    DA3_CHECK(a.shape() == b.shape(), "add: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
#ifdef DA3_WITH_CUDA
    return cuda_ops::add(a, b);
#endif
  }
  check(a, "add");
  check(b, "add");
  DA3_CHECK(a.shape() == b.shape(), "add: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  Tensor y = Tensor::empty(a.shape());
  const float* ap = a.data_as<float>();
  const float* bp = b.data_as<float>();
  float* yp = y.data_as<float>();
  const int64_t n = a.numel();
  #pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) yp[i] = ap[i] + bp[i];
  return y;
}

Tensor relu(const Tensor& x) {
  if (x.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return cuda_ops::relu(x);
#endif
  }
  check(x, "relu");
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  const int64_t n = x.numel();
  #pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.f ? xp[i] : 0.f;
  return y;
}

Tensor swiglu(const Tensor& x12) {
  DA3_CHECK(x12.dim() >= 1 && x12.size(-1) % 2 == 0, "swiglu: last dimension must be even, got " + x12.describe());
  if (x12.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return cuda_ops::swiglu(x12);
#endif
  }
  check(x12, "swiglu");
  const int64_t hh = x12.size(-1) / 2, rows = x12.numel() / std::max<int64_t>(x12.size(-1), 1);
  Shape s = x12.shape();
  s.back() = hh;
  Tensor hidden = Tensor::empty(s);
  const float* p = x12.data_as<float>();
  float* o = hidden.data_as<float>();
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < hh; ++i) {
      const float a = p[r * 2 * hh + i], g = p[r * 2 * hh + hh + i];
      o[r * hh + i] = a / (1.f + std::exp(-a)) * g;  // silu(x1) * x2
    }
  return hidden;
}

}  // namespace da3::nn
