#include "nn/activations.hpp"

#include <cmath>

#ifdef DA3_WITH_CUDA
#include "nn/cuda_ops.hpp"
#endif

namespace da3::nn {

namespace {

template <class F>
void apply(Tensor& x, const char* name, F f) {
  if (x.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return cuda_ops::unary_(x, name);
#endif
  }
  DA3_CHECK(x.dtype() == DType::F32 && x.is_contiguous(), std::string(name) + ": contiguous f32 only, got " + x.describe());
  float* p = x.data_as<float>();
  const int64_t n = x.numel();
  #pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) p[i] = f(p[i]);
}

}  // namespace

void gelu_(Tensor& x) {
  apply(x, "gelu", [](float v) { return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f)); });
}
void relu_(Tensor& x) {
  apply(x, "relu", [](float v) { return v > 0.f ? v : 0.f; });
}
void silu_(Tensor& x) {
  apply(x, "silu", [](float v) { return v / (1.f + std::exp(-v)); });
}
void sigmoid_(Tensor& x) {
  apply(x, "sigmoid", [](float v) { return 1.f / (1.f + std::exp(-v)); });
}
void exp_(Tensor& x) {
  apply(x, "exp", [](float v) { return std::exp(v); });
}
void expp1_(Tensor& x) {
  apply(x, "expp1", [](float v) { return std::exp(v) + 1.f; });
}

}  // namespace da3::nn
