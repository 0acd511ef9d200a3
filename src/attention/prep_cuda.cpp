// QK-norm and 2-D RoPE for q / k on the GPU: the same maths as qk_norm.cpp and rope.cpp (RoPE's
// cos / sin tables are the very ones rope.cpp builds on the host, uploaded), in place on strided
// views of the qkv buffer.
#include <cuda_runtime_api.h>

#include <cstring>

#include "attention/cuda_path.hpp"
#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "kernels/cuda/nn_kernels.hpp"

namespace da3::attn {

void qk_layer_norm_cuda(Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  kernels::cuda::Rows r{};
  r.data = x.data();
  r.dtype = x.dtype();
  for (int i = 0; i < 3; ++i) {
    r.sizes[i] = x.size(i);
    r.strides[i] = x.stride(i);
  }
  const float* w = weight.defined() ? detail::device_param_f32(weight) : nullptr;
  const float* b = bias.defined() ? detail::device_param_f32(bias) : nullptr;
  kernels::cuda::layer_norm_rows(r, r, x.size(0) * x.size(1) * x.size(2), x.size(3), w, b, eps, cuda::stream());
  cuda::check(cudaGetLastError(), "qk_layer_norm (cuda)");
}

void rope_2d_cuda(Tensor& x, const Tensor& positions, AttentionLayout layout, const std::vector<float>& cos_t,
                  const std::vector<float>& sin_t) {
  const bool bnhd = layout == AttentionLayout::BNHD;
  const int64_t B = x.size(0), N = bnhd ? x.size(1) : x.size(2), H = bnhd ? x.size(2) : x.size(1), D = x.size(3);
  const int64_t sb = x.stride(0), sn = bnhd ? x.stride(1) : x.stride(2), sh = bnhd ? x.stride(2) : x.stride(1);
  // Positions and tables are small (N x 2 integers, (max_pos + 1) x D/4 floats): copied per call.
  const Tensor pos = positions.to(DType::I64).to(Device::CUDA);
  const int64_t h2 = D / 4, rows = static_cast<int64_t>(cos_t.size()) / (h2 > 0 ? h2 : 1);
  Tensor tables = Tensor::empty({2, rows, h2});
  std::memcpy(tables.data(), cos_t.data(), cos_t.size() * sizeof(float));
  std::memcpy(static_cast<float*>(tables.data()) + cos_t.size(), sin_t.data(), sin_t.size() * sizeof(float));
  const Tensor dt = tables.to(Device::CUDA);
  const float* c = static_cast<const float*>(dt.data());
  kernels::cuda::rope_2d(x.data(), x.dtype(), B, N, H, D, sb, sn, sh, static_cast<const int64_t*>(pos.data()),
                         positions.dim() == 3 ? N * 2 : 0, c, c + cos_t.size(), cuda::stream());
  cuda::check(cudaGetLastError(), "rope_2d (cuda)");
}

}  // namespace da3::attn
