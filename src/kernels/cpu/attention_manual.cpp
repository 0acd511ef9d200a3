// The manual backend: softmax(q·kᵀ·scale + mask)·v with the whole score matrix of one head in
// memory, in plain loops. It is the debugging oracle the other backends are checked against, so
// it is written to be read, not to be fast. fp32 throughout.
#include "kernels/cpu/attention_manual.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/attention_rows.hpp"

namespace da3::kernels {

namespace {

float mask_value(const AttnMask& mk, int64_t b, int64_t h, int64_t i, int64_t j) {
  const int64_t off = b * mk.sb + h * mk.sh + i * mk.si + j;
  if (mk.dtype == DType::Bool) {
    return static_cast<const uint8_t*>(mk.data)[off] ? 0.f : -std::numeric_limits<float>::infinity();
  }
  return static_cast<const float*>(mk.data)[off];
}

}  // namespace

size_t attention_manual_cpu(const AttentionProblem& p) {
  const int64_t D = p.head_dim, nq = p.nq, nk = p.nk;
  const int64_t heads = p.batch * p.heads;
  if (heads == 0 || nq == 0) return 0;
  const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p.threads, heads)));
  // Per thread: the score matrix of one head, plus q, k, v of that head in fp32.
  const size_t per_thread = static_cast<size_t>(nq * nk + (nq + 2 * nk) * D + D);

#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (int64_t bh = 0; bh < heads; ++bh) {
    const int64_t b = bh / p.heads, h = bh % p.heads;
    std::vector<float> S(static_cast<size_t>(nq * nk));
    std::vector<float> Q(static_cast<size_t>(nq * D)), K(static_cast<size_t>(nk * D)), V(static_cast<size_t>(nk * D));
    std::vector<float> o(static_cast<size_t>(D));
    for (int64_t i = 0; i < nq; ++i) load_row_f32(row_ptr(p.q, b, i, h), p.q.dtype, D, &Q[i * D]);
    for (int64_t j = 0; j < nk; ++j) {
      load_row_f32(row_ptr(p.k, b, j, h), p.k.dtype, D, &K[j * D]);
      load_row_f32(row_ptr(p.v, b, j, h), p.v.dtype, D, &V[j * D]);
    }
    // S = q·kᵀ·scale + mask
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t j = 0; j < nk; ++j) {
        float dot = 0.f;
        for (int64_t d = 0; d < D; ++d) dot += Q[i * D + d] * K[j * D + d];
        S[i * nk + j] = dot * p.scale + (p.mask.data ? mask_value(p.mask, b, h, i, j) : 0.f);
      }
    }
    // Row softmax. A row whose keys are all masked (-inf) has no defined softmax; torch's SDPA
    // returns NaN there, and so does this (0/0).
    for (int64_t i = 0; i < nq; ++i) {
      float* row = &S[i * nk];
      const float mx = *std::max_element(row, row + nk);
      float sum = 0.f;
      for (int64_t j = 0; j < nk; ++j) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
      }
      for (int64_t j = 0; j < nk; ++j) row[j] /= sum;
    }
    // out = P·v
    for (int64_t i = 0; i < nq; ++i) {
      std::fill(o.begin(), o.end(), 0.f);
      for (int64_t j = 0; j < nk; ++j) {
        const float pij = S[i * nk + j];
        for (int64_t d = 0; d < D; ++d) o[d] += pij * V[j * D + d];
      }
      store_row_f32(o.data(), p.out.dtype, D, row_ptr(p.out, b, i, h));
    }
  }
  return per_thread * nthreads * sizeof(float);
}

}  // namespace da3::kernels
