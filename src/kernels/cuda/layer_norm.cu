// LayerNorm over contiguous rows, one warp per row: the warp reads the row twice (mean, then the
// squared deviations: the same two-pass f32 scheme as the CPU path, so the two agree to rounding)
// and writes it once. DA3's rows are 64 (QK-norm) to 3072 (DA3-GIANT heads) values: a warp per row
// keeps every lane busy without shared memory.
#include <cuda_runtime.h>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/cuda/nn_kernels.hpp"

namespace da3::kernels::cuda {

namespace {

__device__ __forceinline__ int64_t row_offset(const Rows& r, int64_t i) {
  const int64_t i2 = i % r.sizes[2], i1 = (i / r.sizes[2]) % r.sizes[1], i0 = i / (r.sizes[2] * r.sizes[1]);
  return i0 * r.strides[0] + i1 * r.strides[1] + i2 * r.strides[2];
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void layer_norm_kernel(Rows x, Rows out, int64_t rows, int64_t c, const float* w, const float* b,
                                  float eps) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t xo = row_offset(x, r), oo = row_offset(out, r);
    float s = 0.f;
    for (int64_t i = lane; i < c; i += 32) s += ld(x.data, x.dtype, xo + i);
    const float mean = warp_sum(s) / static_cast<float>(c);
    float v = 0.f;
    for (int64_t i = lane; i < c; i += 32) {
      const float d = ld(x.data, x.dtype, xo + i) - mean;
      v += d * d;
    }
    const float rstd = rsqrtf(warp_sum(v) / static_cast<float>(c) + eps);
    for (int64_t i = lane; i < c; i += 32) {
      float y = (ld(x.data, x.dtype, xo + i) - mean) * rstd;
      if (w) y *= w[i];
      if (b) y += b[i];
      st(out.data, out.dtype, oo + i, y);
    }
  }
}

}  // namespace

void layer_norm_rows(const Rows& x, const Rows& out, int64_t rows, int64_t c, const float* w, const float* b, float eps,
                     cudaStream_t stream) {
  if (rows == 0 || c == 0) return;
  constexpr int kWarpsPerBlock = 8;
  int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > 65535 * 16) blocks = 65535 * 16;
  layer_norm_kernel<<<static_cast<unsigned>(blocks), 32 * kWarpsPerBlock, 0, stream>>>(x, out, rows, c, w, b, eps);
}

}  // namespace da3::kernels::cuda
