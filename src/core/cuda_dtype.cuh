#pragma once
// Device-side element loads and stores by runtime dtype (f32, bf16, f16), computed in f32: the one
// definition every CUDA kernel uses (core's copies, the nn kernels, attention).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "da3/dtype.hpp"

namespace da3::cuda {

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

}  // namespace da3::cuda
