// CUDA bodies of LayerNorm, the activations and the element-wise ops (see nn/cuda_ops.hpp).
#include <algorithm>
#include <cstring>
#include <string>

#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "nn/cuda_ops.hpp"

namespace da3::nn::cuda_ops {

namespace kc = kernels::cuda;

namespace {

// A tensor of rank <= 4 whose last dim is contiguous, as rows for the kernels.
kc::Rows rows_of(const Tensor& t, const char* op) {
  DA3_CHECK(t.dim() >= 1 && t.dim() <= 4, std::string(op) + " (cuda): 1 to 4 dimensions, got " + t.describe());
  kc::Rows r{};
  r.data = const_cast<void*>(t.data());
  r.dtype = t.dtype();
  const int64_t outer = t.dim() - 1;
  for (int i = 0; i < 3; ++i) {
    const int64_t d = i - (3 - outer);  // the outer dims right-aligned into 3 slots
    r.sizes[i] = d >= 0 ? t.size(d) : 1;
    r.strides[i] = d >= 0 ? t.stride(d) : 0;
  }
  return r;
}

void check_float(const Tensor& t, const char* op) {
  DA3_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16 || t.dtype() == DType::F16,
            std::string(op) + " (cuda): f32, bf16 or f16, got " + t.describe());
  DA3_CHECK(t.device() == Device::CUDA, std::string(op) + " (cuda): tensor is not on the GPU: " + t.describe());
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  check_float(x, "layer_norm");
  check_float(out, "layer_norm");
  const int64_t c = x.size(-1);
  if (x.dim() > 4 && x.is_contiguous() && out.is_contiguous()) {
    Tensor o2 = out.view({out.numel() / c, c});
    return layer_norm(x.view({x.numel() / c, c}), weight, bias, eps, o2);
  }
  const float* w = weight.defined() ? detail::device_param_f32(weight) : nullptr;
  const float* b = bias.defined() ? detail::device_param_f32(bias) : nullptr;
  kc::layer_norm_rows(rows_of(x, "layer_norm"), rows_of(out, "layer_norm"), x.numel() / (c > 0 ? c : 1), c, w, b, eps,
                      cuda::stream());
  cuda::check(cudaGetLastError(), "layer_norm (cuda)");
}

void unary_(Tensor& x, const char* name) {
  check_float(x, name);
  DA3_CHECK(x.is_contiguous(), std::string(name) + " (cuda): contiguous only, got " + x.describe());
  kc::Unary f = kc::Unary::Gelu;
  if (!std::strcmp(name, "relu")) f = kc::Unary::Relu;
  else if (!std::strcmp(name, "silu")) f = kc::Unary::Silu;
  else if (!std::strcmp(name, "sigmoid")) f = kc::Unary::Sigmoid;
  else if (!std::strcmp(name, "exp")) f = kc::Unary::Exp;
  else if (!std::strcmp(name, "expp1")) f = kc::Unary::ExpP1;
  else DA3_CHECK(!std::strcmp(name, "gelu"), std::string("unary (cuda): unknown op ") + name);
  kc::unary_inplace(x.data(), x.dtype(), x.numel(), f, cuda::stream());
  cuda::check(cudaGetLastError(), std::string(name) + " (cuda)");
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_float(a, "add");
  check_float(b, "add");
  DA3_CHECK(a.dtype() == b.dtype() && a.is_contiguous() && b.is_contiguous(),
            "add (cuda): contiguous tensors of one dtype, got " + a.describe() + " and " + b.describe());
  Tensor y = Tensor::empty(a.shape(), a.dtype(), Device::CUDA);
  kc::add(a.data(), b.data(), y.data(), a.dtype(), a.numel(), cuda::stream());
  cuda::check(cudaGetLastError(), "add (cuda)");
  return y;
}

void add_(Tensor& y, const Tensor& b) {
  check_float(y, "add_");
  const Tensor& bd = detail::device_param(b, y.dtype());  // usually a parameter (position embedding)
  kc::add_broadcast(y.data(), bd.data(), y.dtype(), y.numel(), b.numel(), cuda::stream());
  cuda::check(cudaGetLastError(), "add_ (cuda)");
}

Tensor relu(const Tensor& x) {
  check_float(x, "relu");
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  kc::relu(xc.data(), y.data(), x.dtype(), x.numel(), cuda::stream());
  cuda::check(cudaGetLastError(), "relu (cuda)");
  return y;
}

Tensor swiglu(const Tensor& x12) {
  check_float(x12, "swiglu");
  const Tensor xc = x12.contiguous();
  const int64_t h = x12.size(-1) / 2, rows = x12.numel() / std::max<int64_t>(x12.size(-1), 1);
  Shape s = x12.shape();
  s.back() = h;
  Tensor y = Tensor::empty(s, x12.dtype(), Device::CUDA);
  kc::swiglu(xc.data(), y.data(), x12.dtype(), rows, h, cuda::stream());
  cuda::check(cudaGetLastError(), "swiglu (cuda)");
  return y;
}

}  // namespace da3::nn::cuda_ops
