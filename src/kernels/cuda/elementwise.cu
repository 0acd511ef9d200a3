// Element-wise kernels: activations in place, add, the Linear epilogue cuBLASLt cannot fuse
// (its GELU is the tanh approximation; DA3 uses the exact erf one), SwiGLU, 2-D RoPE.
#include <cuda_runtime.h>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace da3::kernels::cuda {

namespace {

__device__ __forceinline__ float gelu_erf(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

__device__ __forceinline__ float apply(Unary f, float v) {
  switch (f) {
    case Unary::Gelu: return gelu_erf(v);
    case Unary::Relu: return v > 0.f ? v : 0.f;
    case Unary::Silu: return v / (1.f + expf(-v));
    case Unary::Sigmoid: return 1.f / (1.f + expf(-v));
    case Unary::Exp: return expf(v);
    case Unary::ExpP1: return expf(v) + 1.f;
  }
  return v;
}

#define DA3_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void unary_kernel(void* x, DType dt, int64_t n, Unary f) {
  DA3_GRID_LOOP(i, n) st(x, dt, i, apply(f, ld(x, dt, i)));
}

__global__ void add_kernel(const void* a, const void* b, void* y, DType dt, int64_t n) {
  DA3_GRID_LOOP(i, n) st(y, dt, i, ld(a, dt, i) + ld(b, dt, i));
}

__global__ void add_broadcast_kernel(void* y, const void* b, DType dt, int64_t n, int64_t nb) {
  DA3_GRID_LOOP(i, n) st(y, dt, i, ld(y, dt, i) + ld(b, dt, i % nb));
}

__global__ void relu_kernel(const void* x, void* y, DType dt, int64_t n) {
  DA3_GRID_LOOP(i, n) {
    const float v = ld(x, dt, i);
    st(y, dt, i, v > 0.f ? v : 0.f);
  }
}

__global__ void epilogue_kernel(const void* t, void* y, DType dt, int64_t rows, int64_t cols, int act,
                                const float* scale, bool accumulate) {
  DA3_GRID_LOOP(i, rows * cols) {
    float v = ld(t, dt, i);
    if (act == 1) v = gelu_erf(v);
    else if (act == 2) v = v > 0.f ? v : 0.f;
    if (scale) v *= scale[i % cols];
    st(y, dt, i, accumulate ? ld(y, dt, i) + v : v);
  }
}

__global__ void swiglu_kernel(const void* x12, void* out, DType dt, int64_t rows, int64_t h) {
  DA3_GRID_LOOP(i, rows * h) {
    const int64_t r = i / h, c = i % h;
    const float a = ld(x12, dt, r * 2 * h + c), g = ld(x12, dt, r * 2 * h + h + c);
    st(out, dt, i, a / (1.f + expf(-a)) * g);
  }
}

// One thread per (b, n, h, i < D/4, half): rotates the pair (i, i + D/4) of that half.
__global__ void rope_kernel(void* x, DType dt, int64_t B, int64_t N, int64_t H, int64_t D, int64_t sb, int64_t sn,
                            int64_t sh, const int64_t* pos, int64_t psb, const float* cos_t, const float* sin_t) {
  const int64_t h2 = D / 4;
  DA3_GRID_LOOP(idx, B * N * H * 2 * h2) {
    const int64_t i = idx % h2, half = (idx / h2) % 2, h = (idx / (2 * h2)) % H, n = (idx / (2 * h2 * H)) % N,
                  b = idx / (2 * h2 * H * N);
    const int64_t p = pos[b * psb + n * 2 + half];
    const float c = cos_t[p * h2 + i], s = sin_t[p * h2 + i];
    const int64_t base = b * sb + n * sn + h * sh + half * (D / 2);
    const float a = ld(x, dt, base + i), bb = ld(x, dt, base + i + h2);
    // Two products then a sum, as the reference (and the CPU path) round them.
    const float ac = a * c, bs = bb * s, bc = bb * c, as = a * s;
    st(x, dt, base + i, ac - bs);
    st(x, dt, base + i + h2, bc + as);
  }
}

}  // namespace

void unary_inplace(void* x, DType dt, int64_t n, Unary f, cudaStream_t stream) {
  if (n > 0) unary_kernel<<<grid_for(n), 256, 0, stream>>>(x, dt, n, f);
}
void add(const void* a, const void* b, void* y, DType dt, int64_t n, cudaStream_t stream) {
  if (n > 0) add_kernel<<<grid_for(n), 256, 0, stream>>>(a, b, y, dt, n);
}
void add_broadcast(void* y, const void* b, DType dt, int64_t n, int64_t nb, cudaStream_t stream) {
  if (n > 0) add_broadcast_kernel<<<grid_for(n), 256, 0, stream>>>(y, b, dt, n, nb);
}
void relu(const void* x, void* y, DType dt, int64_t n, cudaStream_t stream) {
  if (n > 0) relu_kernel<<<grid_for(n), 256, 0, stream>>>(x, y, dt, n);
}
void linear_epilogue(const void* t, void* y, DType dt, int64_t rows, int64_t cols, int act, const float* scale,
                     bool accumulate, cudaStream_t stream) {
  if (rows * cols > 0)
    epilogue_kernel<<<grid_for(rows * cols), 256, 0, stream>>>(t, y, dt, rows, cols, act, scale, accumulate);
}
void swiglu(const void* x12, void* out, DType dt, int64_t rows, int64_t h, cudaStream_t stream) {
  if (rows * h > 0) swiglu_kernel<<<grid_for(rows * h), 256, 0, stream>>>(x12, out, dt, rows, h);
}
void rope_2d(void* x, DType dt, int64_t B, int64_t N, int64_t H, int64_t D, int64_t sb, int64_t sn, int64_t sh,
             const int64_t* pos, int64_t pos_batch_stride, const float* cos_t, const float* sin_t,
             cudaStream_t stream) {
  const int64_t n = B * N * H * (D / 2);
  if (n > 0)
    rope_kernel<<<grid_for(n), 256, 0, stream>>>(x, dt, B, N, H, D, sb, sn, sh, pos, pos_batch_stride, cos_t, sin_t);
}

}  // namespace da3::kernels::cuda
