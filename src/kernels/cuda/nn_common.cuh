#pragma once
// Element loads and stores by runtime dtype for the nn kernels (computed in f32).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "da3/dtype.hpp"

namespace da3::kernels::cuda {

__device__ __forceinline__ float ld(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ void st(void* p, DType t, int64_t i, float v) {
  switch (t) {
    case DType::F16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case DType::BF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float*>(p)[i] = v; break;
  }
}

// A grid that covers n elements with 256-thread blocks, capped (the kernels loop).
inline unsigned grid_for(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

}  // namespace da3::kernels::cuda
