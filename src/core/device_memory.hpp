#pragma once
// What Tensor needs from a device other than the CPU, without naming CUDA: the CUDA bodies are in
// core/cuda_memory_cuda.cpp and core/tensor_cuda.cu (built only with CUDA); without CUDA these
// throw da3::Error saying the build has none.
#include <cstddef>
#include <memory>

#include "da3/tensor.hpp"

namespace da3::detail {

// Uninitialised device memory from the caching allocator (256-byte aligned); freed back to it.
std::shared_ptr<void> allocate_device(size_t bytes);
// dst = src, any shapes' strides, any float dtypes, either side on the device (the other on the
// host); synchronous with respect to the host when the host side is involved.
void copy_device(Tensor& dst, const Tensor& src);
void fill_device(Tensor& t, float value);

}  // namespace da3::detail

namespace da3::detail {

// The device copy of a parameter (a weight, bias or table that never changes once made), made the
// first time an op on the device meets it and kept for the life of the process: contiguous, in
// `dtype`, on the current device. This is what lets model code hand CPU-resident weights to an op
// whose input is on the GPU without ever naming a device: each weight crosses the bus once.
// Keyed by (address, shape, strides, dtype, target dtype, device); the entry holds a reference to
// the parameter's storage, so its address cannot be reused for other data while cached. Do not
// pass tensors that are written after their first use (activations) as parameters.
const Tensor& device_param(const Tensor& param, DType dtype);
inline const float* device_param_f32(const Tensor& param) {
  return static_cast<const float*>(device_param(param, DType::F32).data());
}

}  // namespace da3::detail
