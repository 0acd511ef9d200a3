#pragma once
// Row-major GEMM for Linear layers on cuBLASLt: y (m, n) = x (m, k) · w (n, k)ᵀ [+ bias (n)]
// [+ y when accumulate], one dtype for x, w, y and bias (f32, bf16 or f16), f32 accumulation and
// f32 scaling. f32 runs true fp32 (CUBLAS_COMPUTE_32F: no TF32), so results compare with the CPU.
// Asynchronous on `stream`; plans (descriptors, layouts, the heuristic's algorithm) are cached
// per shape.
#include <cstdint>

#include "da3/dtype.hpp"

typedef struct CUstream_st* cudaStream_t;

namespace da3::kernels::cuda {

void gemm_bias(const void* x, const void* w, const void* bias, void* y, DType dt, int64_t m, int64_t n, int64_t k,
               bool accumulate, cudaStream_t stream);

}  // namespace da3::kernels::cuda
