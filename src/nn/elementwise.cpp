#include "nn/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

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

Tensor to_bf16_parallel(const Tensor& x) {
  check(x, "to_bf16_parallel");
  Tensor out = Tensor::empty(x.shape(), DType::BF16);
  const float* src = x.data_as<float>();
  auto* dst = static_cast<uint16_t*>(out.data());
  const int64_t n = x.numel();
  constexpr int64_t kChunk = 1 << 14;
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += kChunk)
    f32_to_bf16(src + i, dst + i, static_cast<size_t>(std::min(kChunk, n - i)));
  return out;
}

Tensor to_f32_parallel(const Tensor& x) {
  DA3_CHECK((x.dtype() == DType::BF16 || x.dtype() == DType::F16) && x.is_contiguous() && x.device() == Device::CPU,
            "to_f32_parallel: expects a contiguous bf16 or f16 CPU tensor, got " + x.describe());
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  const auto* src = static_cast<const uint16_t*>(x.data());
  float* dst = out.data_as<float>();
  const int64_t n = x.numel();
  const bool bf16 = x.dtype() == DType::BF16;
  constexpr int64_t kChunk = 1 << 14;
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += kChunk) {
    const size_t m = static_cast<size_t>(std::min(kChunk, n - i));
    if (bf16)
      bf16_to_f32(src + i, dst + i, m);
    else
      f16_to_f32(src + i, dst + i, m);
  }
  return out;
}

void add_(Tensor& y, const Tensor& b) {
  DA3_CHECK(y.is_contiguous() && b.is_contiguous() && y.dtype() == b.dtype() && b.numel() > 0 &&
                b.dim() <= y.dim() && std::equal(b.shape().begin(), b.shape().end(), y.shape().end() - b.dim()),
            "add_: " + b.describe() + " does not broadcast into " + y.describe());
  if (y.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return cuda_ops::add_(y, b);
#endif
  }
  check(y, "add_");
  float* yp = y.data_as<float>();
  const float* bp = b.data_as<float>();
  const int64_t n = b.numel(), reps = y.numel() / n;
  #pragma omp parallel for schedule(static) if (reps > 1)
  for (int64_t r = 0; r < reps; ++r)
    for (int64_t i = 0; i < n; ++i) yp[r * n + i] += bp[i];
}

Tensor patchify(const Tensor& x, int64_t P) {
  DA3_CHECK(x.dim() == 4 && x.size(1) == 3 && P > 0 && x.size(2) % P == 0 && x.size(3) % P == 0,
            "patchify: expects (N, 3, H, W) with H and W multiples of " + std::to_string(P) + ", got " + x.describe());
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3), gh = H / P, gw = W / P, np = gh * gw;
  if (x.device() == Device::CUDA) {
    // A pure permutation: (N, 3, gh, P, gw, P) -> (N, gh, gw, 3, P, P), one strided copy.
    Tensor out = Tensor::empty({N, gh, gw, 3, P, P}, x.dtype(), Device::CUDA);
    out.copy_from(x.contiguous().view({N, 3, gh, P, gw, P}).permute({0, 2, 4, 1, 3, 5}));
    return out.view({N, np, 3 * P * P});
  }
  check(x, "patchify");
  Tensor patches = Tensor::empty({N, np, 3 * P * P});
  const float* src = x.data_as<float>();
  float* dst = patches.data_as<float>();
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t img = 0; img < N; ++img)
    for (int64_t py = 0; py < gh; ++py)
      for (int64_t px = 0; px < gw; ++px) {
        float* d = dst + (img * np + py * gw + px) * 3 * P * P;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t ky = 0; ky < P; ++ky)
            std::memcpy(d + (c * P + ky) * P, src + ((img * 3 + c) * H + py * P + ky) * W + px * P, P * 4);
      }
  return patches;
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
