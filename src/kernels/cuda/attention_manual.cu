// manual on CUDA: the whole score matrix in global memory, one thread per score, one thread per
// output element. Slow and obviously right: the GPU oracle.
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"

namespace da3::kernels::cuda {

namespace {

__global__ void scores_kernel(AttentionProblem p, float* s) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = p.batch * p.heads * p.nq * p.nk;
  if (idx >= total) return;
  const int64_t j = idx % p.nk, i = (idx / p.nk) % p.nq, h = (idx / (p.nk * p.nq)) % p.heads,
                b = idx / (p.nk * p.nq * p.heads);
  const int64_t qo = b * p.q.sb + i * p.q.sn + h * p.q.sh, ko = b * p.k.sb + j * p.k.sn + h * p.k.sh;
  float dot = 0.f;
  for (int64_t d = 0; d < p.head_dim; ++d) dot += load_f32(p.q.data, p.q.dtype, qo + d) * load_f32(p.k.data, p.k.dtype, ko + d);
  s[idx] = dot * p.scale;
}

__global__ void output_kernel(AttentionProblem p, const float* s) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = p.batch * p.heads * p.nq * p.head_dim;
  if (idx >= total) return;
  const int64_t d = idx % p.head_dim, i = (idx / p.head_dim) % p.nq, h = (idx / (p.head_dim * p.nq)) % p.heads,
                b = idx / (p.head_dim * p.nq * p.heads);
  const float* row = s + ((b * p.heads + h) * p.nq + i) * p.nk;
  float acc = 0.f;
  for (int64_t j = 0; j < p.nk; ++j) acc += row[j] * load_f32(p.v.data, p.v.dtype, b * p.v.sb + j * p.v.sn + h * p.v.sh + d);
  store_f32(p.out.data, p.out.dtype, b * p.out.sb + i * p.out.sn + h * p.out.sh + d, acc);
}

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace

size_t manual_workspace_bytes(const AttentionProblem& p) {
  return static_cast<size_t>(p.batch * p.heads * p.nq * p.nk) * sizeof(float);
}

void attention_manual(const AttentionProblem& p, float* s, cudaStream_t stream) {
  const int threads = 256;
  scores_kernel<<<blocks_for(p.batch * p.heads * p.nq * p.nk, threads), threads, 0, stream>>>(p, s);
  for (int64_t b = 0; b < p.batch; ++b)
    softmax_rows(s + b * p.heads * p.nq * p.nk, p.heads * p.nq, p.nk, p, b, 0, p.nq, stream);
  output_kernel<<<blocks_for(p.batch * p.heads * p.nq * p.head_dim, threads), threads, 0, stream>>>(p, s);
}

}  // namespace da3::kernels::cuda
