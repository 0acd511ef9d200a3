// Plain C++ flash attention for CPUs without AVX2 (and a second, independently written check
// of the blocking logic in the tests): one query row at a time, keys in blocks, online softmax.
// Compiled without ISA flags, so it runs anywhere; it is slow, which is why flash_attn is not
// "available" on such CPUs (auto-selection picks sdpa there).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/attention_flash.hpp"
#include "kernels/cpu/attention_rows.hpp"

namespace da3::kernels {

size_t attention_flash_scalar(const AttentionProblem& p, FlashCpuTiling tiling) {
  const int64_t D = p.head_dim, nk = p.nk;
  const int64_t bk = tiling.block_k > 0 ? tiling.block_k : 64;
  const int64_t heads = p.batch * p.heads;
  if (heads == 0 || p.nq == 0) return 0;
  const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p.threads, heads * p.nq)));
  // Per thread: one head's K and V in fp32, plus a query row, an output row and a score block.
  const size_t per_thread = static_cast<size_t>(2 * nk * D + 2 * D + bk);
  const float log2e = 1.4426950408889634f;

#pragma omp parallel num_threads(nthreads)
  {
    std::vector<float> ws(per_thread);
    float* kf = ws.data();
    float* vf = kf + nk * D;
    float* q = vf + nk * D;
    float* o = q + D;
    float* s = o + D;
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t rows = heads * p.nq;
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    int64_t loaded = -1;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / p.nq, i = task % p.nq;
      const int64_t b = bh / p.heads, h = bh % p.heads;
      if (bh != loaded) {
        for (int64_t j = 0; j < nk; ++j) {
          load_row_f32(row_ptr(p.k, b, j, h), p.k.dtype, D, kf + j * D);
          round_row(kf + j * D, D, p.compute);
          load_row_f32(row_ptr(p.v, b, j, h), p.v.dtype, D, vf + j * D);
          round_row(vf + j * D, D, p.compute);
        }
        loaded = bh;
      }
      load_row_f32(row_ptr(p.q, b, i, h), p.q.dtype, D, q);
      round_row(q, D, p.compute);
      for (int64_t d = 0; d < D; ++d) q[d] *= p.scale * log2e;
      float m = -std::numeric_limits<float>::infinity(), l = 0.f;
      std::fill(o, o + D, 0.f);
      for (int64_t k0 = 0; k0 < nk; k0 += bk) {
        const int64_t n = std::min(bk, nk - k0);
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          const float* kr = kf + (k0 + j) * D;
          float acc = 0.f;
          for (int64_t d = 0; d < D; ++d) acc += q[d] * kr[d];
          s[j] = acc;
          mx = std::max(mx, acc);
        }
        const float m_new = std::max(m, mx);
        const float alpha = std::isinf(m) ? 0.f : std::exp2(m - m_new);
        l *= alpha;
        for (int64_t d = 0; d < D; ++d) o[d] *= alpha;
        for (int64_t j = 0; j < n; ++j) {
          float e = std::exp2(s[j] - m_new);
          l += e;
          round_row(&e, 1, p.compute);
          const float* vr = vf + (k0 + j) * D;
          for (int64_t d = 0; d < D; ++d) o[d] += e * vr[d];
        }
        m = m_new;
      }
      for (int64_t d = 0; d < D; ++d) o[d] /= l;
      store_row_f32(o, p.out.dtype, D, row_ptr(p.out, b, i, h));
    }
  }
  return per_thread * nthreads * sizeof(float);
}

}  // namespace da3::kernels
