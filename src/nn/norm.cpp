#include "nn/norm.hpp"

#include <algorithm>

#include "kernels/cpu/layer_norm_row.hpp"

#ifdef DA3_WITH_CUDA
#include "nn/cuda_ops.hpp"
#endif

namespace da3::nn {

namespace {

// Visits every row (all dims but the last) of a tensor whose last dim is contiguous.
template <class F>
void for_each_row(const Tensor& t, F&& f) {
  const int64_t nd = t.dim();
  const int64_t rows = t.numel() / std::max<int64_t>(t.size(-1), 1);
  #pragma omp parallel for schedule(static) if (rows > 64)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r, off = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      off += (rem % t.size(d)) * t.stride(d);
      rem /= t.size(d);
    }
    f(r, off);
  }
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  if (x.device() == Device::CUDA) {
    DA3_CHECK(out.shape() == x.shape() && out.device() == Device::CUDA && x.stride(-1) == 1 && out.stride(-1) == 1,
              "layer_norm: output " + out.describe() + " for input " + x.describe());
    DA3_CHECK(weight.numel() == x.size(-1) && bias.numel() == x.size(-1),
              "layer_norm: weight/bias must have " + std::to_string(x.size(-1)) + " values");
#ifdef DA3_WITH_CUDA
    return cuda_ops::layer_norm(x, weight, bias, eps, out);
#endif
  }
  DA3_CHECK(x.dtype() == DType::F32 && out.dtype() == DType::F32, "layer_norm: f32 only, got " + x.describe());
  const int64_t c = x.size(-1);
  DA3_CHECK(x.stride(-1) == 1 && out.stride(-1) == 1, "layer_norm: last dimension must be contiguous");
  DA3_CHECK(out.shape() == x.shape(), "layer_norm: output shape " + shape_str(out.shape()) + " != " + shape_str(x.shape()));
  DA3_CHECK(weight.numel() == c && bias.numel() == c && weight.dtype() == DType::F32 && bias.dtype() == DType::F32,
            "layer_norm: weight/bias must be " + std::to_string(c) + " f32 values");
  const float* w = weight.data_as<float>();
  const float* b = bias.data_as<float>();
  const float* xp = x.data_as<float>();
  float* op = out.data_as<float>();
  // Output offsets follow the output's own strides (it may be a different view than x).
  const bool same_layout = out.strides() == x.strides();
  const kernels::LayerNormRowFn row_fn = kernels::layer_norm_row();
  for_each_row(x, [&](int64_t r, int64_t xoff) {
    int64_t ooff = xoff;
    if (!same_layout) {
      int64_t rem = r;
      ooff = 0;
      for (int64_t d = out.dim() - 2; d >= 0; --d) {
        ooff += (rem % out.size(d)) * out.stride(d);
        rem /= out.size(d);
      }
    }
    row_fn(xp + xoff, c, w, b, eps, op + ooff);
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  Tensor out = Tensor::empty(x.shape(), x.device() == Device::CUDA ? x.dtype() : DType::F32, x.device());
  layer_norm(x.stride(-1) == 1 ? x : x.contiguous(), weight, bias, eps, out);
  return out;
}

}  // namespace da3::nn
