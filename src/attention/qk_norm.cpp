// LayerNorm over the head dim of q or k (the reference's q_norm / k_norm: nn.LayerNorm(head_dim),
// eps 1e-5), in place on any 4-D view with a contiguous head dim.
#include <omp.h>

#include <vector>

#include "da3/attention.hpp"
#include "da3/threads.hpp"
#include "kernels/cpu/attention_rows.hpp"
#include "kernels/cpu/layer_norm_row.hpp"

#ifdef DA3_WITH_CUDA
#include "attention/cuda_path.hpp"
#endif

namespace da3 {

void qk_layer_norm_inplace(Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  DA3_CHECK(x.defined() && x.dim() == 4, "qk_layer_norm: x must be 4-D");
  DA3_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::BF16 || x.dtype() == DType::F16,
            "qk_layer_norm: x must be f32, bf16 or f16, got " + x.describe());
  const int64_t D = x.size(3);
  DA3_CHECK(x.stride(3) == 1 || D == 1, "qk_layer_norm: x must have a contiguous head dim, got " + x.describe());
  auto check_param = [&](const Tensor& t, const char* name) {
    if (!t.defined()) return;
    DA3_CHECK(t.dtype() == DType::F32 && t.dim() == 1 && t.size(0) == D && t.is_contiguous(),
              std::string("qk_layer_norm: ") + name + " must be contiguous f32 (" + std::to_string(D) + "), got " +
                  t.describe());
  };
  check_param(weight, "weight");
  check_param(bias, "bias");
  if (x.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return attn::qk_layer_norm_cuda(x, weight, bias, eps);
#else
    throw Error("qk_layer_norm: a CUDA tensor in a build without CUDA");
#endif
  }
  const float* w = weight.defined() ? weight.data_as<float>() : nullptr;
  const float* bb = bias.defined() ? bias.data_as<float>() : nullptr;
  const kernels::LayerNormRowFn row_fn = kernels::layer_norm_row();

  const int64_t d0 = x.size(0), d1 = x.size(1), d2 = x.size(2);
  const int64_t s0 = x.stride(0), s1 = x.stride(1), s2 = x.stride(2);
  const int64_t rows = d0 * d1 * d2;
  const int64_t esize = static_cast<int64_t>(dtype_size(x.dtype()));
  char* base = static_cast<char*>(x.data());
#pragma omp parallel num_threads(num_threads())
  {
    std::vector<float> t(static_cast<size_t>(D));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i0 = r / (d1 * d2), i1 = (r / d2) % d1, i2 = r % d2;
      void* row = base + (i0 * s0 + i1 * s1 + i2 * s2) * esize;
      // f32 rows are normalised where they are (no copy in and out); bf16 / f16 via a float row.
      const bool in_place = x.dtype() == DType::F32;
      float* tr = in_place ? static_cast<float*>(row) : t.data();
      if (!in_place) kernels::load_row_f32(row, x.dtype(), D, tr);
      row_fn(tr, D, w, bb, eps, tr);
      if (!in_place) kernels::store_row_f32(tr, x.dtype(), D, row);
    }
  }
}

}  // namespace da3
