#pragma once
// Device helpers shared by the CUDA attention kernels: element loads / stores by runtime dtype,
// and the softmax row kernel used by sdpa and manual.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/cuda_dtype.cuh"
#include "da3/dtype.hpp"
#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels::cuda {

__device__ __forceinline__ float load_f32(const void* base, DType dt, int64_t off) { return da3::cuda::ld(base, dt, off); }
__device__ __forceinline__ void store_f32(void* base, DType dt, int64_t off, float v) { da3::cuda::st(base, dt, off, v); }

// Two floats rounded to the compute type T (bf16 / f16) and packed into one 32-bit register, low
// half first: the A-operand layout of the tensor-core products (mma.sync and wgmma alike).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

__device__ __forceinline__ float mask_value(const AttnMask& m, int64_t b, int64_t h, int64_t i, int64_t j) {
  const int64_t off = b * m.sb + h * m.sh + i * m.si + j;
  if (m.dtype == DType::Bool) return static_cast<const uint8_t*>(m.data)[off] ? 0.f : -INFINITY;
  return static_cast<const float*>(m.data)[off];
}

// In-place softmax of rows of length n (row r at s + r*n), one CTA per row; `add_mask` adds the
// problem's mask for (b, h, i0 + row) first. rows_per_head rows per head, heads consecutive.
void softmax_rows(float* s, int64_t rows, int64_t n, const AttentionProblem& p, int64_t b, int64_t i0,
                  int64_t rows_per_head, cudaStream_t stream);

}  // namespace da3::kernels::cuda
