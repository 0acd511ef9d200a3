#pragma once
// CUDA kernels behind the nn/ ops and the attention pre-processing (QK-norm, RoPE). Plain device
// pointers and sizes: nothing here knows a model or a Tensor. All calls are asynchronous on
// `stream`. Element types: f32, bf16 or f16 (computed in f32).
#include <cstdint>

#include "da3/dtype.hpp"

typedef struct CUstream_st* cudaStream_t;

namespace da3::kernels::cuda {

// Rows of a tensor whose last dimension (the row) is contiguous: row r sits at
// r0 * strides[0] + r1 * strides[1] + r2 * strides[2] elements, r = (r0 * sizes[1] + r1) * sizes[2] + r2.
struct Rows {
  void* data;
  DType dtype;
  int64_t sizes[3];
  int64_t strides[3];
};

// LayerNorm of each row of length c: out = (x - mean) / sqrt(var + eps) * w + b (w, b: f32 device
// arrays of c values or null for 1 / 0). Two passes over the row in f32 (mean, then the squared
// deviations), one warp per row. out may alias x.
void layer_norm_rows(const Rows& x, const Rows& out, int64_t rows, int64_t c, const float* w, const float* b, float eps,
                     cudaStream_t stream);

enum class Unary { Gelu, Relu, Silu, Sigmoid, Exp, ExpP1 };
// x = f(x) over n contiguous elements.
void unary_inplace(void* x, DType dt, int64_t n, Unary f, cudaStream_t stream);
// y = a + b over n contiguous elements (all the same dtype).
void add(const void* a, const void* b, void* y, DType dt, int64_t n, cudaStream_t stream);
// y[i] += b[i % nb] over n contiguous elements (b broadcast over leading dims).
void add_broadcast(void* y, const void* b, DType dt, int64_t n, int64_t nb, cudaStream_t stream);
// y = max(x, 0), out of place.
void relu(const void* x, void* y, DType dt, int64_t n, cudaStream_t stream);
// The tail of a Linear that cuBLASLt cannot fuse: v = act(t) (t already has the bias), v *= scale[col]
// when scale is given, then y = y + v when accumulate, else y = v. rows x cols, contiguous.
// act: 0 none, 1 exact (erf) GELU, 2 ReLU.
void linear_epilogue(const void* t, void* y, DType dt, int64_t rows, int64_t cols, int act, const float* scale,
                     bool accumulate, cudaStream_t stream);
// SwiGLU: x12 (rows, 2h) -> out (rows, h) = silu(x12[:, :h]) * x12[:, h:].
void swiglu(const void* x12, void* out, DType dt, int64_t rows, int64_t h, cudaStream_t stream);

// 2-D RoPE in place on x (B, N, H, D) addressed by element strides (sb, sn, sh; head dim
// contiguous). pos: int64 device array (B or 1) x N x 2 of (y, x); pos_batch_stride 0 when shared.
// cos_t / sin_t: (max_pos + 1, D / 4) f32 device tables.
void rope_2d(void* x, DType dt, int64_t B, int64_t N, int64_t H, int64_t D, int64_t sb, int64_t sn, int64_t sh,
             const int64_t* pos, int64_t pos_batch_stride, const float* cos_t, const float* sin_t,
             cudaStream_t stream);

}  // namespace da3::kernels::cuda
