#include "nn/elementwise.hpp"

namespace da3::nn {

namespace {
void check(const Tensor& t, const char* op) {
  DA3_CHECK(t.dtype() == DType::F32 && t.is_contiguous(),
            std::string(op) + ": contiguous f32 only, got " + t.describe());
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
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
  check(x, "relu");
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  const int64_t n = x.numel();
  #pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.f ? xp[i] : 0.f;
  return y;
}

}  // namespace da3::nn
