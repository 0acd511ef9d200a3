// sdpa on CUDA: two cuBLAS strided-batched GEMMs (batched over heads) around the row softmax,
// per batch item and block of query rows. fp32 throughout (cuBLAS's default math mode: no TF32).
#include <algorithm>
#include <string>

#include "da3/error.hpp"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"
#include "kernels/cuda/cublas_dl.hpp"

namespace da3::kernels::cuda {

namespace {

// Scores of one block: heads × rows × Nk floats, capped so the workspace stays near 256 MiB.
int64_t block_rows(const AttentionProblem& p) {
  const int64_t cap = (int64_t(64) << 20) / std::max<int64_t>(1, p.heads * p.nk);
  return std::max<int64_t>(1, std::min(p.nq, cap));
}

cublasHandle_t handle() {
  // One handle per host thread: cuBLAS handles are not meant to be shared across threads.
  thread_local cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    if (cublas().create(&x) != CUBLAS_STATUS_SUCCESS) throw Error("attention (sdpa, cuda): cublasCreate failed");
    return x;
  }();
  return h;
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(std::string("attention (sdpa, cuda): ") + what + " failed, status " + std::to_string(int(s)));
}

}  // namespace

size_t sdpa_workspace_bytes(const AttentionProblem& p) {
  return static_cast<size_t>(p.heads * block_rows(p) * p.nk) * sizeof(float);
}

void attention_sdpa(const AttentionProblem& p, float* ws, cudaStream_t stream) {
  const int64_t bq = block_rows(p);
  cublasHandle_t h = handle();
  check(cublas().set_stream(h, stream), "cublasSetStream");
  const float one = 1.f, zero = 0.f;
  const float* q = static_cast<const float*>(p.q.data);
  const float* k = static_cast<const float*>(p.k.data);
  const float* v = static_cast<const float*>(p.v.data);
  float* o = static_cast<float*>(p.out.data);
  const int nk = static_cast<int>(p.nk), D = static_cast<int>(p.head_dim), H = static_cast<int>(p.heads);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t i0 = 0; i0 < p.nq; i0 += bq) {
      const int rows = static_cast<int>(std::min(bq, p.nq - i0));
      const float* qb = q + b * p.q.sb + i0 * p.q.sn;
      const float* kb = k + b * p.k.sb;
      const float* vb = v + b * p.v.sb;
      float* ob = o + b * p.out.sb + i0 * p.out.sn;
      // Row-major S (rows × Nk) is column-major Sᵀ = K·Qᵀ: m = Nk, n = rows, k = D.
      check(cublas().sgemm_strided_batched(h, CUBLAS_OP_T, CUBLAS_OP_N, nk, rows, D, &p.scale, kb, int(p.k.sn), p.k.sh,
                                      qb, int(p.q.sn), p.q.sh, &zero, ws, nk, int64_t(rows) * nk, H),
            "scores GEMM");
      softmax_rows(ws, int64_t(rows) * H, nk, p, b, i0, rows, stream);
      // Row-major O (rows × D) is column-major Oᵀ = Vᵀ·Pᵀ: m = D, n = rows, k = Nk.
      check(cublas().sgemm_strided_batched(h, CUBLAS_OP_N, CUBLAS_OP_N, D, rows, nk, &one, vb, int(p.v.sn), p.v.sh, ws,
                                      nk, int64_t(rows) * nk, &zero, ob, int(p.out.sn), p.out.sh, H),
            "output GEMM");
    }
  }
}

}  // namespace da3::kernels::cuda
