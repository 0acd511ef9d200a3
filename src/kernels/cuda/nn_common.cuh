#pragma once
// Shared by the nn kernels: element access by runtime dtype (core/cuda_dtype.cuh) and grid sizing.
#include <cstdint>

#include "core/cuda_dtype.cuh"

namespace da3::kernels::cuda {

using da3::cuda::ld;
using da3::cuda::st;

// A grid that covers n elements with 256-thread blocks, capped (the kernels loop).
inline unsigned grid_for(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

}  // namespace da3::kernels::cuda
