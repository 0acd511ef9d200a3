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
