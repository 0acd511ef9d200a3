// Strided 4-D -> contiguous copy with a dtype change: how the CUDA sdpa path gets fp32 operands
// from bf16 / f16 tensors, and writes results into outputs of another dtype or layout.
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"

namespace da3::kernels::cuda {

namespace {

struct Dims4 {
  int64_t n[4], s[4];
};

__global__ void convert_kernel(const void* src, DType st, Dims4 d, void* dst, DType dt) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = d.n[0] * d.n[1] * d.n[2] * d.n[3];
  if (idx >= total) return;
  const int64_t i3 = idx % d.n[3], i2 = (idx / d.n[3]) % d.n[2], i1 = (idx / (d.n[3] * d.n[2])) % d.n[1],
                i0 = idx / (d.n[3] * d.n[2] * d.n[1]);
  store_f32(dst, dt, idx, load_f32(src, st, i0 * d.s[0] + i1 * d.s[1] + i2 * d.s[2] + i3 * d.s[3]));
}

}  // namespace

void convert_4d(const void* src, DType src_dtype, const int64_t sizes[4], const int64_t strides[4], void* dst,
                DType dst_dtype, cudaStream_t stream) {
  Dims4 d;
  for (int i = 0; i < 4; ++i) {
    d.n[i] = sizes[i];
    d.s[i] = strides[i];
  }
  const int64_t total = d.n[0] * d.n[1] * d.n[2] * d.n[3];
  if (total == 0) return;
  const int threads = 256;
  convert_kernel<<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, stream>>>(src, src_dtype, d, dst,
                                                                                                 dst_dtype);
}

}  // namespace da3::kernels::cuda
