// Row softmax (with the optional mask) for the sdpa and manual CUDA backends, fp32.
#include <cfloat>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"

namespace da3::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__device__ float block_reduce(float v, bool is_max) {
  __shared__ float red[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // red may still be read from the previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? red[lane] : (is_max ? -INFINITY : 0.f);
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, w) : v + w;
  }
  return v;
}

__global__ void softmax_kernel(float* s, int64_t n, AttnMask mask, int64_t b, int64_t i0, int64_t rows_per_head) {
  const int64_t row = blockIdx.x;
  float* r = s + row * n;
  const int64_t h = row / rows_per_head, i = i0 + row % rows_per_head;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    float v = r[j];
    if (mask.data) {
      v += mask_value(mask, b, h, i, j);
      r[j] = v;
    }
    mx = fmaxf(mx, v);
  }
  mx = block_reduce(mx, true);
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const float e = __expf(r[j] - mx);
    r[j] = e;
    sum += e;
  }
  sum = block_reduce(sum, false);
  const float inv = 1.f / sum;  // a fully masked row gives 0 * inf = NaN, as torch
  for (int64_t j = threadIdx.x; j < n; j += kThreads) r[j] *= inv;
}

}  // namespace

void softmax_rows(float* s, int64_t rows, int64_t n, const AttentionProblem& p, int64_t b, int64_t i0,
                  int64_t rows_per_head, cudaStream_t stream) {
  if (rows == 0) return;
  softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(s, n, p.mask, b, i0, rows_per_head);
}

}  // namespace da3::kernels::cuda
