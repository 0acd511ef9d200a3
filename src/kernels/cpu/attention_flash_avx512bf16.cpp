// AVX-512-BF16 CPU flash attention: both products on vdpbf16ps (compiled with -mavx512bf16;
// only called after CPUID lists AVX512_BF16). Runs when the problem computes in bf16 and the head
// dim is even; anything else goes to the AVX-512 fp32 body.
//
// Same algorithm as attention_flash_body.hpp (tiles of BQ query rows × BK keys, online softmax
// with fp32 running max and sum, P rounded to bf16 for the second product), with the products
// rebuilt around vdpbf16ps, which multiplies PAIRS of bf16 and accumulates into 16 fp32 lanes:
//   acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1]
// One instruction does the work of two fp32 FMAs, so both products pair their reduction index:
//   S = Q·Kᵀ   reduces over d: a = (q[2e], q[2e+1]) broadcast, b lane i = key i's (k[2e], k[2e+1]);
//              K is packed as Kp[panel][e][NR keys][2].
//   O += P·V   reduces over keys: a = (p[2j], p[2j+1]) broadcast, b lane c = (v[2j][c], v[2j+1][c]);
//              V is packed as Vp[j/2][Dp][2] and P stored as bf16 rows.
// Q stays unscaled in bf16 (as the fp32 body rounds it); scale·log2(e) multiplies the fp32
// scores instead, which also saves a rounding.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "kernels/cpu/attention_flash.hpp"
#include "kernels/cpu/attention_flash_avx512_exp.hpp"
#include "kernels/cpu/attention_rows.hpp"

namespace da3::kernels {
namespace {

constexpr int W = 16;       // fp32 lanes per vector
constexpr int NR = 2 * W;   // columns per micro-tile (keys in S, head dims in O)
constexpr int MR = 8;       // rows per micro-tile: 16 accumulators + 2 operands + 1 broadcast
constexpr int kStrips = 8;  // query block 64 rows
constexpr int kBlockK = 256;
constexpr float kLog2e = 1.4426950408889634f;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }
inline __m512i bcast_pair(const uint16_t* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  return _mm512_set1_epi32(static_cast<int>(x));
}

class FlashCpuBf16 {
 public:
  FlashCpuBf16(const AttentionProblem& p, FlashCpuTiling t)
      : p_(p),
        D_(p.head_dim),
        Dp_(round_up(p.head_dim, NR)),
        BQ_(static_cast<int64_t>(t.strips > 0 ? t.strips : kStrips) * MR),
        BK_(round_up(t.block_k > 0 ? t.block_k : kBlockK, NR)),
        nk_pad_(round_up(p.nk, NR)),
        qscale_(p.scale * kLog2e) {
    // Per-thread scratch in bytes, every piece 64-byte aligned.
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t at = off;
      off += (bytes + 63) / 64 * 64;
      return at;
    };
    kp_ = take(nk_pad_ * D_ * 2);
    vp_ = take(nk_pad_ * Dp_ * 2);
    qp_ = take(BQ_ * D_ * 2);
    s_ = take(BQ_ * BK_ * 4);
    pb_ = take(BQ_ * BK_ * 2);
    o_ = take(BQ_ * Dp_ * 4);
    const size_t vrows = round_up(BQ_, W) * 4;
    m_ = take(vrows);
    l_ = take(vrows);
    a_ = take(vrows);
    sum_ = take(vrows);
    rmax_ = take(BQ_ * W * 4);
    row_ = take(Dp_ * 4);
    per_thread_ = off;
  }

  size_t run() {
    const int64_t nqb = ceil_div(p_.nq, BQ_);
    const int64_t tasks = p_.batch * p_.heads * nqb;
    if (tasks == 0) return 0;
    const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p_.threads, tasks)));
    const size_t bytes = per_thread_ * nthreads;
    std::unique_ptr<char, decltype(&std::free)> scratch(static_cast<char*>(std::aligned_alloc(64, bytes)), &std::free);
    if (!scratch) throw std::bad_alloc();
#pragma omp parallel num_threads(nthreads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t begin = tasks * t / nt, end = tasks * (t + 1) / nt;
      char* ws = scratch.get() + per_thread_ * t;
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
  template <class T>
  static T* at(char* ws, size_t off) {
    return reinterpret_cast<T*>(ws + off);
  }

  // One row of q / k / v as bf16 (round to nearest even; exact when stored as bf16).
  void load_row_bf16(const AttnOperand& op, int64_t b, int64_t n, int64_t h, float* tmp, uint16_t* dst) const {
    load_row_f32(row_ptr(op, b, n, h), op.dtype, D_, tmp);
    f32_to_bf16(tmp, dst, static_cast<size_t>(D_));
  }

  void pack_kv(int64_t b, int64_t h, char* ws) const {
    uint16_t* kp = at<uint16_t>(ws, kp_);
    uint16_t* vp = at<uint16_t>(ws, vp_);
    float* tmp = at<float>(ws, row_);
    alignas(64) uint16_t row[512];  // head dims up to 512 (checked in attention_flash_avx512bf16)
    for (int64_t j = 0; j < nk_pad_; ++j) {
      if (j + kPrefetchRows < p_.nk) {
        prefetch_row(p_.k, b, j + kPrefetchRows, h, D_);
        prefetch_row(p_.v, b, j + kPrefetchRows, h, D_);
      }
      if (j < p_.nk) load_row_bf16(p_.k, b, j, h, tmp, row);
      else std::fill(row, row + D_, uint16_t{0});
      uint16_t* panel = kp + (j / NR) * D_ * NR + (j % NR) * 2;
      for (int64_t e = 0; e < D_ / 2; ++e) {
        panel[e * NR * 2] = row[2 * e];
        panel[e * NR * 2 + 1] = row[2 * e + 1];
      }
      if (j < p_.nk) load_row_bf16(p_.v, b, j, h, tmp, row);
      else std::fill(row, row + D_, uint16_t{0});
      uint16_t* vpair = vp + (j / 2) * Dp_ * 2 + (j % 2);
      for (int64_t c = 0; c < Dp_; ++c) vpair[c * 2] = c < D_ ? row[c] : uint16_t{0};
    }
  }

  // S[MR][NR] (row stride lds) = scale·log2(e) · Qp rows (bf16, stride D) · one K panel, folding
  // the tile into the running row maxima; kTail: columns past the last key get -inf from `tail`.
  template <bool kTail>
  void qk_tile(const uint16_t* __restrict q, const uint16_t* __restrict kpanel, float* __restrict s, int64_t lds,
               float* __restrict rowmax, const float* __restrict tail) const {
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    const int64_t pairs = D_ / 2;
#pragma GCC unroll 4
    for (int64_t e = 0; e < pairs; ++e) {
      const __m512bh b0 = as_bh(_mm512_loadu_si512(kpanel + e * NR * 2));
      const __m512bh b1 = as_bh(_mm512_loadu_si512(kpanel + e * NR * 2 + NR));
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512bh a = as_bh(bcast_pair(q + r * D_ + 2 * e));
        acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
        acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
      }
    }
    const __m512 sc = _mm512_set1_ps(qscale_);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm512_mul_ps(acc0[r], sc);
      acc1[r] = _mm512_mul_ps(acc1[r], sc);
      if constexpr (kTail) {
        acc0[r] = _mm512_add_ps(acc0[r], _mm512_load_ps(tail));
        acc1[r] = _mm512_add_ps(acc1[r], _mm512_load_ps(tail + W));
      }
      _mm512_storeu_ps(s + r * lds, acc0[r]);
      _mm512_storeu_ps(s + r * lds + W, acc1[r]);
      _mm512_storeu_ps(rowmax + r * W,
                       _mm512_max_ps(_mm512_loadu_ps(rowmax + r * W), _mm512_max_ps(acc0[r], acc1[r])));
    }
  }

  // O[MR][NR] (stride ldo) = O·alpha + P[MR][pairs·2] (bf16, stride ldp) · V pairs from `v`.
  void pv_tile(const uint16_t* __restrict pm, int64_t ldp, int64_t pairs, const uint16_t* __restrict v,
               const float* __restrict alpha, float* __restrict o, int64_t ldo) const {
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(alpha[r]);
      acc0[r] = _mm512_mul_ps(_mm512_loadu_ps(o + r * ldo), a);
      acc1[r] = _mm512_mul_ps(_mm512_loadu_ps(o + r * ldo + W), a);
    }
    const int64_t ldv = Dp_ * 2;
#pragma GCC unroll 4
    for (int64_t j = 0; j < pairs; ++j) {
      const __m512bh b0 = as_bh(_mm512_loadu_si512(v + j * ldv));
      const __m512bh b1 = as_bh(_mm512_loadu_si512(v + j * ldv + NR));
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512bh a = as_bh(bcast_pair(pm + r * ldp + 2 * j));
        acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
        acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      _mm512_storeu_ps(o + r * ldo, acc0[r]);
      _mm512_storeu_ps(o + r * ldo + W, acc1[r]);
    }
  }

  // Online-softmax update of `rows` rows: P = 2^(S - m_new) rounded to bf16 into pb, the sums
  // from the unrounded values (as FlashAttention-2), alpha = 2^(m_old - m_new), l = l·alpha + sum.
  void softmax_block(const float* s, uint16_t* pb, int64_t rows, int64_t nvalid, float* m, float* l, float* alpha,
                     float* rowsum, const float* rowmax) const {
    const int64_t ncols = round_up(nvalid, W);
    for (int64_t r = 0; r < rows; ++r) {
      const float* srow = s + r * BK_;
      uint16_t* prow = pb + r * BK_;
      const float m_new = std::max(m[r], _mm512_reduce_max_ps(_mm512_loadu_ps(rowmax + r * W)));
      const __m512 vm = _mm512_set1_ps(m_new);
      __m512 vsum0 = _mm512_setzero_ps(), vsum1 = _mm512_setzero_ps();
      int64_t c = 0;
      for (; c + 2 * W <= ncols; c += 2 * W) {  // two independent chains: see exp2_n
        const __m512 e0 = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(srow + c), vm));
        const __m512 e1 = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(srow + c + W), vm));
        vsum0 = _mm512_add_ps(vsum0, e0);
        vsum1 = _mm512_add_ps(vsum1, e1);
        const __m512bh pair = _mm512_cvtne2ps_pbh(e1, e0);  // low half e0, high half e1
        std::memcpy(prow + c, &pair, sizeof(pair));
      }
      for (; c < ncols; c += W) {
        const __m512 e0 = exp2_neg(_mm512_sub_ps(_mm512_loadu_ps(srow + c), vm));
        vsum0 = _mm512_add_ps(vsum0, e0);
        const __m256bh one = _mm512_cvtneps_pbh(e0);
        std::memcpy(prow + c, &one, sizeof(one));
      }
      rowsum[r] = _mm512_reduce_add_ps(_mm512_add_ps(vsum0, vsum1));
      alpha[r] = m[r] - m_new;
      m[r] = m_new;
    }
    for (int64_t r = 0; r < rows; r += W) {
      const __m512 a = exp2_neg(_mm512_loadu_ps(alpha + r));
      _mm512_storeu_ps(alpha + r, a);
      _mm512_storeu_ps(l + r, _mm512_fmadd_ps(_mm512_loadu_ps(l + r), a, _mm512_loadu_ps(rowsum + r)));
    }
  }

  void run_block(int64_t b, int64_t h, int64_t q0, int64_t rows, char* ws) const {
    const uint16_t* kp = at<uint16_t>(ws, kp_);
    const uint16_t* vp = at<uint16_t>(ws, vp_);
    uint16_t* qp = at<uint16_t>(ws, qp_);
    float* s = at<float>(ws, s_);
    uint16_t* pb = at<uint16_t>(ws, pb_);
    float* o = at<float>(ws, o_);
    float* m = at<float>(ws, m_);
    float* l = at<float>(ws, l_);
    float* alpha = at<float>(ws, a_);
    float* rowsum = at<float>(ws, sum_);
    float* rowmax = at<float>(ws, rmax_);
    float* tmp = at<float>(ws, row_);
    const int64_t strips = ceil_div(rows, MR);
    const int64_t prow = strips * MR;

    prefetch_block_rows(p_, b, h, q0, rows, BQ_);
    for (int64_t r = 0; r < rows; ++r) load_row_bf16(p_.q, b, q0 + r, h, tmp, qp + r * D_);
    std::fill(qp + rows * D_, qp + prow * D_, uint16_t{0});
    std::fill(o, o + prow * Dp_, 0.f);
    const int64_t vrows = round_up(prow, W);
    std::fill(m, m + vrows, -std::numeric_limits<float>::infinity());
    std::fill(l, l + vrows, 0.f);
    std::fill(rowsum, rowsum + vrows, 0.f);
    std::fill(alpha, alpha + vrows, 0.f);
    alignas(64) float tail[NR];

    for (int64_t k0 = 0; k0 < p_.nk; k0 += BK_) {
      const int64_t nvalid = std::min(BK_, p_.nk - k0);
      const int64_t panels = ceil_div(nvalid, NR);
      std::fill(rowmax, rowmax + prow * W, -std::numeric_limits<float>::infinity());
      for (int64_t pn = 0; pn < panels; ++pn) {
        const uint16_t* kpanel = kp + (k0 / NR + pn) * D_ * NR;
        const int64_t cols = std::min<int64_t>(NR, nvalid - pn * NR);
        if (cols == NR) {
          for (int64_t st = 0; st < strips; ++st)
            qk_tile<false>(qp + st * MR * D_, kpanel, s + st * MR * BK_ + pn * NR, BK_, rowmax + st * MR * W, tail);
        } else {
          for (int c = 0; c < NR; ++c) tail[c] = c < cols ? 0.f : -std::numeric_limits<float>::infinity();
          for (int64_t st = 0; st < strips; ++st)
            qk_tile<true>(qp + st * MR * D_, kpanel, s + st * MR * BK_ + pn * NR, BK_, rowmax + st * MR * W, tail);
        }
      }
      softmax_block(s, pb, prow, nvalid, m, l, alpha, rowsum, rowmax);
      // Keys pair up from k0 (a multiple of NR, so even); an odd last key pairs with a padded
      // key whose P is 0 and whose V row is 0.
      const int64_t pairs = ceil_div(nvalid, 2);
      const uint16_t* vblock = vp + (k0 / 2) * Dp_ * 2;
      for (int64_t st = 0; st < strips; ++st)
        for (int64_t c = 0; c < Dp_; c += NR)
          pv_tile(pb + st * MR * BK_, BK_, pairs, vblock + c * 2, alpha + st * MR, o + st * MR * Dp_ + c, Dp_);
    }

    for (int64_t r = 0; r < rows; ++r) {
      const __m512 inv = _mm512_set1_ps(1.f / l[r]);
      const float* orow = o + r * Dp_;
      for (int64_t c = 0; c < Dp_; c += W) _mm512_storeu_ps(tmp + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), inv));
      store_row_f32(tmp, p_.out.dtype, D_, row_ptr(p_.out, b, q0 + r, h));
    }
  }

  const AttentionProblem& p_;
  const int64_t D_, Dp_, BQ_, BK_, nk_pad_;
  const float qscale_;
  size_t kp_, vp_, qp_, s_, pb_, o_, m_, l_, a_, sum_, rmax_, row_, per_thread_;
};

}  // namespace

size_t attention_flash_avx512bf16(const AttentionProblem& p, FlashCpuTiling tiling) {
  // vdpbf16ps pairs the head dim: an odd one (none of DA3's) runs the fp32 body, which rounds
  // to bf16 just the same; so does fp32 / fp16 compute.
  if (p.compute != ComputeType::BF16 || p.head_dim % 2 != 0 || p.head_dim > 512)
    return attention_flash_avx512(p, tiling);
  return FlashCpuBf16(p, tiling).run();
}

}  // namespace da3::kernels
