// Linear on CUDA: the GEMM and its bias (and the residual add when nothing else needs to come
// between) in one cuBLASLt call; an activation (exact GELU: cuBLASLt's is the tanh approximation)
// or an unfolded per-channel scale in one element-wise pass after it. Weights are converted to
// the input's dtype and uploaded on first use (device_param), then stay on the GPU.
#include <string>

#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "da3/profile.hpp"
#include "kernels/cuda/gemm.hpp"
#include "kernels/cuda/nn_kernels.hpp"
#include "nn/cuda_ops.hpp"

namespace da3::nn::cuda_ops {

Tensor linear(const Tensor& weight, const Tensor& bias, const Tensor& x, const LinearEpilogue& ep,
              const std::string& name) {
  const DType dt = x.dtype();
  DA3_CHECK(dt == DType::F32 || dt == DType::BF16 || dt == DType::F16,
            name + " (cuda): input must be f32, bf16 or f16, got " + x.describe());
  const int64_t out = weight.size(0), in = weight.size(1);
  const Tensor xc = x.contiguous();
  const int64_t m = xc.numel() / in;
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y;
  if (ep.accumulate) {
    DA3_CHECK(ep.accumulate->shape() == out_shape && ep.accumulate->is_contiguous() && ep.accumulate->dtype() == dt &&
                  ep.accumulate->device() == Device::CUDA,
              name + ": accumulate target must be a contiguous " + dtype_name(dt) + " CUDA tensor " +
                  shape_str(out_shape) + ", got " + ep.accumulate->describe());
    y = *ep.accumulate;
  } else {
    y = Tensor::empty(out_shape, dt, Device::CUDA);
  }
  if (m == 0) return y;
  const void* w = detail::device_param(weight, dt).data();
  const void* b = bias.defined() ? detail::device_param(bias, dt).data() : nullptr;
  const bool tail = ep.act != Activation::None || ep.scale != nullptr;
  cudaStream_t s = cuda::stream();
  count_flops(static_cast<uint64_t>(2 * m * in * out));
  if (!tail) {
    kernels::cuda::gemm_bias(xc.data(), w, b, y.data(), dt, m, out, in, ep.accumulate != nullptr, s);
    return y;
  }
  // GEMM + bias into a temporary when the result must still be added to y, else into y itself.
  Tensor t = ep.accumulate ? Tensor::empty(out_shape, dt, Device::CUDA) : y;
  kernels::cuda::gemm_bias(xc.data(), w, b, t.data(), dt, m, out, in, false, s);
  const int act = ep.act == Activation::Gelu ? 1 : ep.act == Activation::Relu ? 2 : 0;
  const float* scale = ep.scale ? detail::device_param_f32(*ep.scale) : nullptr;
  kernels::cuda::linear_epilogue(t.data(), y.data(), dt, m, out, act, scale, ep.accumulate != nullptr, s);
  cuda::check(cudaGetLastError(), name + " (cuda) epilogue");
  return y;
}

}  // namespace da3::nn::cuda_ops
