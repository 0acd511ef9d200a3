#pragma once
// The CPU flash-attention kernel, written once over a SIMD traits type `V` and compiled once per
// ISA by attention_flash_avx2.cpp / attention_flash_avx512.cpp, each with its own -m flags.
//
// Everything here sits in an anonymous namespace: each ISA's file gets a private copy, so the
// linker can never hand the AVX-512 instantiation to the AVX2 path (or the reverse).
//
// Algorithm (per batch b, head h, block of BQ query rows):
//   O = 0, m = -inf, l = 0                                  (per row, fp32)
//   for each block of BK keys:
//     S = Q·Kᵀ          (Q pre-scaled by scale·log2 e, so exp2 replaces exp)
//     m' = max(m, rowmax S);  P = 2^(S - m');  alpha = 2^(m - m')
//     l = l·alpha + rowsum P;  O = O·alpha + P·V;  m = m'
//   out = O / l
// Memory: per thread, K and V of one head packed (O(N·D)) plus one block's S, O and Q; never N×N.
//
// Tiles. Both products run a register micro-tile of MR rows × NR = 2 vectors of columns: for
// S = Q·Kᵀ the columns are keys, for O += P·V they are head dims. The inner step broadcasts one
// element per row and loads two vectors, feeding 2·MR independent FMAs (AVX2: MR = 6 -> 12
// accumulators + 2 operands + 1 broadcast = 15 of 16 ymm registers).
// Packing makes both products read memory sequentially:
//   Kp[panel][d][NR]  keys transposed in panels of NR, so a step loads NR keys' d-th element;
//   Vp[key][Dp]       rows padded to a multiple of NR (the padding is zero);
//   Qp[row][D]        the query block, scaled, in fp32.
// Padding: the last key panel's missing keys get a score of -inf (probability 0); the last query
// block's missing rows are zero queries whose results are never stored.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "kernels/cpu/attention_flash.hpp"
#include "kernels/cpu/attention_problem.hpp"
#include "kernels/cpu/attention_rows.hpp"

namespace da3::kernels {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// 2^x for K vectors of x <= 0 (the only inputs: score minus running max), each step applied to
// all K before the next: the chain is ~10 dependent operations deep, and interleaving
// independent vectors lets the core overlap them (5 % faster softmax on Zen 1, docs/perf.md).
// x = n + f with n = round(x), |f| <= 1/2. Adding 1.5·2^23 + 127 rounds x to an integer that
// lands in the low mantissa bits already biased by 127, so a shift by 23 builds 2^n with no
// round / convert instruction; 2^f is a degree-5 polynomial (Chebyshev fit, relative error
// 4e-7 in fp32). x <= -127 gives n = -127, an exponent field of 0, so exactly 0: that is how
// padded keys (score -inf) and the first block's rescale (m = -inf) get 0. A NaN stays NaN.
template <class V, int K>
inline void exp2_n(typename V::reg (&x)[K]) {
  using R = typename V::reg;
  const R magic = V::set1(12582912.f + 127.f), lo = V::set1(-127.f);
  R t[K], p[K];
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) x[i] = V::max(lo, x[i]);  // x second: NaN propagates
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) t[i] = V::add(x[i], magic);
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) x[i] = V::sub(x[i], V::sub(t[i], magic));  // f
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) p[i] = V::fma(V::set1(1.3395280111581087e-3f), x[i], V::set1(9.670763276517391e-3f));
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) p[i] = V::fma(p[i], x[i], V::set1(5.550340563058853e-2f));
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) p[i] = V::fma(p[i], x[i], V::set1(2.4022211134433746e-1f));
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) p[i] = V::fma(p[i], x[i], V::set1(6.931471824645996e-1f));
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) p[i] = V::fma(p[i], x[i], V::set1(1.f));
#pragma GCC unroll 8
  for (int i = 0; i < K; ++i) x[i] = V::mul(p[i], V::shl23(t[i]));
}

template <class V>
class FlashCpu {
 public:
  using R = typename V::reg;
  static constexpr int W = V::width;  // floats per vector
  static constexpr int MR = V::mr;    // rows per micro-tile
  static constexpr int NR = 2 * W;    // columns per micro-tile

  FlashCpu(const AttentionProblem& p, FlashCpuTiling t)
      : p_(p),
        D_(p.head_dim),
        Dp_(round_up(p.head_dim, NR)),
        strips_(t.strips > 0 ? t.strips : V::strips),
        BQ_(static_cast<int64_t>(strips_) * MR),
        BK_(round_up(t.block_k > 0 ? t.block_k : V::block_k, NR)),
        nk_pad_(round_up(p.nk, NR)),
        qscale_(p.scale * kLog2e) {
    // Per-thread scratch, in floats, each piece 64-byte aligned.
    kp_off_ = 0;
    vp_off_ = kp_off_ + align(nk_pad_ * D_);
    qp_off_ = vp_off_ + align(nk_pad_ * Dp_);
    s_off_ = qp_off_ + align(BQ_ * D_);
    o_off_ = s_off_ + align(BQ_ * BK_);
    m_off_ = o_off_ + align(BQ_ * Dp_);
    l_off_ = m_off_ + align(BQ_);
    a_off_ = l_off_ + align(BQ_);
    sum_off_ = a_off_ + align(BQ_);
    rmax_off_ = sum_off_ + align(BQ_);
    row_off_ = rmax_off_ + align(BQ_ * W);
    per_thread_ = row_off_ + align(Dp_);
  }

  size_t run() {
    const int64_t nqb = ceil_div(p_.nq, BQ_);
    const int64_t tasks = p_.batch * p_.heads * nqb;
    if (tasks == 0) return 0;
    const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p_.threads, tasks)));
    const size_t bytes = static_cast<size_t>(per_thread_) * nthreads * sizeof(float);
    // Allocated before the parallel region so that a failure throws here, not inside OpenMP.
    std::unique_ptr<float, decltype(&std::free)> scratch(
        static_cast<float*>(std::aligned_alloc(64, bytes)), &std::free);
    if (!scratch) throw std::bad_alloc();

#pragma omp parallel num_threads(nthreads)
    {
      // Contiguous task ranges: a thread's tasks share few heads, so it packs each head's K and V
      // once; ranges differ by at most one task, so the threads finish together.
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t begin = tasks * t / nt, end = tasks * (t + 1) / nt;
      float* ws = scratch.get() + static_cast<int64_t>(t) * per_thread_;
      int64_t packed = -1;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t bh = task / nqb, qb = task % nqb;
        const int64_t b = bh / p_.heads, h = bh % p_.heads;
        if (bh != packed) {
          pack_kv(b, h, ws);
          packed = bh;
        }
        const int64_t q0 = qb * BQ_;
        run_block(b, h, q0, std::min(BQ_, p_.nq - q0), ws);
      }
    }
    return bytes;
  }

 private:
  static int64_t align(int64_t floats) { return round_up(floats, 16); }

  void pack_kv(int64_t b, int64_t h, float* ws) const {
    float* kp = ws + kp_off_;
    float* vp = ws + vp_off_;
    float* row = ws + row_off_;
    for (int64_t j = 0; j < nk_pad_; ++j) {
      if (j + kPrefetchRows < p_.nk) {
        prefetch_row(p_.k, b, j + kPrefetchRows, h, D_);
        prefetch_row(p_.v, b, j + kPrefetchRows, h, D_);
      }
      if (j < p_.nk) {
        load_row_f32(row_ptr(p_.k, b, j, h), p_.k.dtype, D_, row);
        round_row(row, D_, p_.compute);
      } else {
        std::fill(row, row + D_, 0.f);
      }
      float* panel = kp + (j / NR) * D_ * NR + (j % NR);
      for (int64_t d = 0; d < D_; ++d) panel[d * NR] = row[d];

      float* vrow = vp + j * Dp_;
      if (j < p_.nk) {
        load_row_f32(row_ptr(p_.v, b, j, h), p_.v.dtype, D_, vrow);
        round_row(vrow, D_, p_.compute);
      } else {
        std::fill(vrow, vrow + D_, 0.f);
      }
      std::fill(vrow + D_, vrow + Dp_, 0.f);
    }
  }

  // S[MR][NR] (row stride lds) = Qp rows (stride D) · one K panel; also folds the tile into the
  // per-row running max vectors rowmax[MR][W], so the softmax needs no separate max pass.
  // kTail: the panel runs past the last key; `tail` (0 or -inf per column) gives those columns a
  // score of -inf, so they neither win the max nor get probability.
  template <bool kTail>
  static void qk_tile(const float* __restrict q, int64_t D, const float* __restrict kpanel, float* __restrict s,
                      int64_t lds, float* __restrict rowmax, const float* __restrict tail) {
    R acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = V::zero();
#pragma GCC unroll 4
    for (int64_t d = 0; d < D; ++d) {
      const R b0 = V::load(kpanel + d * NR);
      const R b1 = V::load(kpanel + d * NR + W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const R a = V::bcast(q + r * D + d);
        acc0[r] = V::fma(a, b0, acc0[r]);
        acc1[r] = V::fma(a, b1, acc1[r]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      if constexpr (kTail) {
        acc0[r] = V::add(acc0[r], V::load(tail));
        acc1[r] = V::add(acc1[r], V::load(tail + W));
      }
      V::store(s + r * lds, acc0[r]);
      V::store(s + r * lds + W, acc1[r]);
      V::store(rowmax + r * W, V::max(V::load(rowmax + r * W), V::max(acc0[r], acc1[r])));
    }
  }

  // O[MR][NR] (stride ldo) = O·alpha (per row) + P[MR][nkeys] (stride ldp) · V rows (stride ldv).
  // The rescale rides along with the load of O, so it costs no separate pass.
  static void pv_tile(const float* __restrict pm, int64_t ldp, int64_t nkeys, const float* __restrict v,
                      int64_t ldv, const float* __restrict alpha, float* __restrict o, int64_t ldo) {
    R acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const R a = V::bcast(alpha + r);
      acc0[r] = V::mul(V::load(o + r * ldo), a);
      acc1[r] = V::mul(V::load(o + r * ldo + W), a);
    }
#pragma GCC unroll 4
    for (int64_t j = 0; j < nkeys; ++j) {
      const R b0 = V::load(v + j * ldv);
      const R b1 = V::load(v + j * ldv + W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const R a = V::bcast(pm + r * ldp + j);
        acc0[r] = V::fma(a, b0, acc0[r]);
        acc1[r] = V::fma(a, b1, acc1[r]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      V::store(o + r * ldo, acc0[r]);
      V::store(o + r * ldo + W, acc1[r]);
    }
  }

  template <ComputeType CT>
  static R round_to(R e) {
    if constexpr (CT == ComputeType::BF16) return V::round_bf16(e);
    if constexpr (CT == ComputeType::F16) return V::round_f16(e);
    return e;
  }

  // Online-softmax update of `rows` rows of the score block, in place (S becomes P). The row
  // maxima of this block are already in rowmax (from qk_tile); the columns past the last key
  // hold -inf. alpha receives each row's rescale factor for O.
  template <ComputeType CT>
  void softmax_block(float* s, int64_t rows, int64_t nvalid, float* m, float* l, float* alpha, float* rowsum,
                     const float* rowmax) const {
    const int64_t ncols = round_up(nvalid, W);
    for (int64_t r = 0; r < rows; ++r) {
      float* srow = s + r * BK_;
      const float m_new = std::max(m[r], V::hmax(V::load(rowmax + r * W)));
      const R vm = V::set1(m_new);
      // Four vectors at a time (ncols is a multiple of W; BK of 4W): see exp2_n.
      constexpr int U = 4;
      R vsum[U];
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) vsum[u] = V::zero();
      int64_t c = 0;
      for (; c + U * W <= ncols; c += U * W) {
        R e[U];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) e[u] = V::sub(V::load(srow + c + u * W), vm);
        exp2_n<V, U>(e);
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) {
          vsum[u] = V::add(vsum[u], e[u]);  // the sum uses the unrounded probabilities, as FlashAttention-2
          V::store(srow + c + u * W, round_to<CT>(e[u]));
        }
      }
      for (; c < ncols; c += W) {
        R e[1] = {V::sub(V::load(srow + c), vm)};
        exp2_n<V, 1>(e);
        vsum[0] = V::add(vsum[0], e[0]);
        V::store(srow + c, round_to<CT>(e[0]));
      }
      vsum[0] = V::add(V::add(vsum[0], vsum[1]), V::add(vsum[2], vsum[3]));
      rowsum[r] = V::hsum(vsum[0]);
      alpha[r] = m[r] - m_new;  // exponent of the rescale factor, finished below
      m[r] = m_new;
    }
    // alpha = 2^(m_old - m_new), l = l·alpha + rowsum, a vector at a time (rows is a multiple of
    // MR, the arrays are padded to W). Before the first block m_old = -inf: alpha = 0 exactly.
    for (int64_t r = 0; r < rows; r += W) {
      R a[1] = {V::load(alpha + r)};
      exp2_n<V, 1>(a);
      V::store(alpha + r, a[0]);
      V::store(l + r, V::fma(V::load(l + r), a[0], V::load(rowsum + r)));
    }
  }

  void run_block(int64_t b, int64_t h, int64_t q0, int64_t rows, float* ws) const {
    const float* kp = ws + kp_off_;
    const float* vp = ws + vp_off_;
    float* qp = ws + qp_off_;
    float* s = ws + s_off_;
    float* o = ws + o_off_;
    float* m = ws + m_off_;
    float* l = ws + l_off_;
    float* alpha = ws + a_off_;
    float* rowsum = ws + sum_off_;
    float* rowmax = ws + rmax_off_;
    const int64_t strips = ceil_div(rows, MR);
    const int64_t prow = strips * MR;  // rows including the zero padding of the last strip

    // Strided rows the prefetcher misses: the next block's Q, this block's output.
    prefetch_block_rows(p_, b, h, q0, rows, BQ_);
    for (int64_t r = 0; r < rows; ++r) {
      float* qr = qp + r * D_;
      load_row_f32(row_ptr(p_.q, b, q0 + r, h), p_.q.dtype, D_, qr);
      round_row(qr, D_, p_.compute);
      for (int64_t d = 0; d < D_; ++d) qr[d] *= qscale_;
    }
    std::fill(qp + rows * D_, qp + prow * D_, 0.f);
    std::fill(o, o + prow * Dp_, 0.f);
    // m, l, alpha, rowsum are read a vector at a time: fill them past prow up to a multiple of W.
    const int64_t vrows = round_up(prow, W);
    std::fill(m, m + vrows, -std::numeric_limits<float>::infinity());
    std::fill(l, l + vrows, 0.f);
    std::fill(rowsum, rowsum + vrows, 0.f);
    std::fill(alpha, alpha + vrows, 0.f);
    // Score bias for the columns of the last key panel: 0 for keys, -inf past the end.
    alignas(64) float tail[NR];

    for (int64_t k0 = 0; k0 < p_.nk; k0 += BK_) {
      const int64_t nvalid = std::min(BK_, p_.nk - k0);
      const int64_t panels = ceil_div(nvalid, NR);
      // Panel outer, strips inner: one K panel (D×NR floats) stays in L1 while every strip of
      // the query block (also L1-resident) runs against it.
      std::fill(rowmax, rowmax + prow * W, -std::numeric_limits<float>::infinity());
      for (int64_t pn = 0; pn < panels; ++pn) {
        const float* kpanel = kp + (k0 / NR + pn) * D_ * NR;
        const int64_t cols = std::min<int64_t>(NR, nvalid - pn * NR);
        if (cols == NR) {
          for (int64_t st = 0; st < strips; ++st)
            qk_tile<false>(qp + st * MR * D_, D_, kpanel, s + st * MR * BK_ + pn * NR, BK_, rowmax + st * MR * W, tail);
        } else {
          for (int c = 0; c < NR; ++c) tail[c] = c < cols ? 0.f : -std::numeric_limits<float>::infinity();
          for (int64_t st = 0; st < strips; ++st)
            qk_tile<true>(qp + st * MR * D_, D_, kpanel, s + st * MR * BK_ + pn * NR, BK_, rowmax + st * MR * W, tail);
        }
      }
      switch (p_.compute) {
        case ComputeType::F32: softmax_block<ComputeType::F32>(s, prow, nvalid, m, l, alpha, rowsum, rowmax); break;
        case ComputeType::BF16: softmax_block<ComputeType::BF16>(s, prow, nvalid, m, l, alpha, rowsum, rowmax); break;
        case ComputeType::F16: softmax_block<ComputeType::F16>(s, prow, nvalid, m, l, alpha, rowsum, rowmax); break;
      }
      // Strip outer, head-dim tiles inner: the strip's P rows stay in L1 while the block's V
      // rows (BK×Dp floats) stream once per strip from L1/L2.
      const float* vblock = vp + k0 * Dp_;
      for (int64_t st = 0; st < strips; ++st) {
        for (int64_t c = 0; c < Dp_; c += NR) {
          pv_tile(s + st * MR * BK_, BK_, nvalid, vblock + c, Dp_, alpha + st * MR, o + st * MR * Dp_ + c, Dp_);
        }
      }
    }

    float* row = ws + row_off_;
    for (int64_t r = 0; r < rows; ++r) {
      const R inv = V::set1(1.f / l[r]);
      const float* orow = o + r * Dp_;
      for (int64_t c = 0; c < Dp_; c += W) V::store(row + c, V::mul(V::load(orow + c), inv));
      store_row_f32(row, p_.out.dtype, D_, row_ptr(p_.out, b, q0 + r, h));
    }
  }

  const AttentionProblem& p_;
  const int64_t D_, Dp_;
  const int strips_;
  const int64_t BQ_, BK_, nk_pad_;
  const float qscale_;
  int64_t kp_off_, vp_off_, qp_off_, s_off_, o_off_, m_off_, l_off_, a_off_, sum_off_, rmax_off_, row_off_,
      per_thread_;
};

}  // namespace
}  // namespace da3::kernels
