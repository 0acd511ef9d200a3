// AMX CPU flash attention: both products on the tile unit (TDPBF16PS), the online softmax on
// AVX-512. Compiled with -mamx-tile -mamx-bf16 (and the AVX-512-BF16 flags); only called after
// CPUID lists AMX-BF16 and the OS granted this process the tile state (CpuFeatures::amx_usable).
// Runs when the problem computes in bf16, the head dim is a multiple of 32 (one tile row holds
// 32 bf16), the scale is positive and there is no mask; anything else goes to the vdpbf16ps
// kernel (attention_flash_avx512bf16.cpp).
//
// Why our own kernel and not oneDNN's AMX matmul: oneDNN 2.6 has no fused attention, and two
// matmuls would write the N×N scores to memory; here a 32 × BK block of them lives in L1.
//
// The eight tile registers, each 16 rows × 64 bytes:
//   tmm0..3  a 32×32 fp32 block of the product (rows 0-15 / 16-31 × columns 0-15 / 16-31)
//   tmm4..5  A: 16 rows × 32 bf16 of the left operand (Q over 32 head dims; P over 32 keys)
//   tmm6..7  B: 16 rows of 16 column PAIRS (bf16, the reduction index paired: "VNNI" layout)
// S = Q·Kᵀ  A = Q rows (bf16, row-major), B = K packed as Kp[32-key panel][D/2][32 keys][2],
//           the vdpbf16ps kernel's layout: a B tile is 16 pairs × 16 keys at a 128-byte stride.
// O += P·V  A = P rows (bf16, the softmax writes them), B = V packed as Vp[key/2][D][2].
// A query block is 32 rows (two tile rows); a key block BK keys (a multiple of 32). The scores are
// stored unscaled; the softmax applies scale·log2(e) inside its exp2 (fmsub), and the O rows are
// rescaled by alpha in memory before the tiles reload them.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "kernels/cpu/attention_flash.hpp"
#include "kernels/cpu/attention_flash_avx512_exp.hpp"
#include "kernels/cpu/attention_rows.hpp"

namespace da3::kernels {
namespace {

constexpr int W = 16;          // fp32 lanes per vector; rows per tile
constexpr int kBQ = 2 * W;     // query rows per block
constexpr int kPanel = 2 * W;  // keys per K panel, columns per 2×2 block of C tiles
constexpr int kBlockK = 512;
constexpr float kLog2e = 1.4426950408889634f;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// LDTILECFG's 64-byte operand, palette 1: every tile 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// The tile registers are per thread: each OpenMP thread configures them on entry and releases
// them on exit (TILERELEASE returns the tile state to INIT, so the kernel does not enlarge the
// context every later switch saves).
class TileScope {
 public:
  TileScope() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
      cfg.rows[t] = W;
      cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;
};

class FlashCpuAmx {
 public:
  FlashCpuAmx(const AttentionProblem& p, FlashCpuTiling t)
      : p_(p),
        D_(p.head_dim),
        BK_(round_up(t.block_k > 0 ? t.block_k : kBlockK, kPanel)),
        nk_pad_(round_up(p.nk, kPanel)),
        qscale_(p.scale * kLog2e) {
    size_t off = 0;  // per-thread scratch in bytes, every piece 64-byte aligned
    auto take = [&](size_t bytes) {
      const size_t at = off;
      off += (bytes + 63) / 64 * 64;
      return at;
    };
    kp_ = take(nk_pad_ * D_ * 2);
    vp_ = take(nk_pad_ * D_ * 2);
    qp_ = take(kBQ * D_ * 2);
    s_ = take(kBQ * BK_ * 4);
    pb_ = take(kBQ * BK_ * 2);
    o_ = take(kBQ * D_ * 4);
    m_ = take(kBQ * 4);
    l_ = take(kBQ * 4);
    a_ = take(kBQ * 4);
    sum_ = take(kBQ * 4);
    row_ = take(D_ * 4);
    per_thread_ = off;
  }

  size_t run() {
    const int64_t nqb = ceil_div(p_.nq, kBQ);
    const int64_t tasks = p_.batch * p_.heads * nqb;
    if (tasks == 0) return 0;
    const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p_.threads, tasks)));
    const size_t bytes = per_thread_ * nthreads;
    std::unique_ptr<char, decltype(&std::free)> scratch(static_cast<char*>(std::aligned_alloc(64, bytes)), &std::free);
    if (!scratch) throw std::bad_alloc();
#pragma omp parallel num_threads(nthreads)
    {
      const TileScope tiles;
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
        const int64_t q0 = qb * kBQ;
        run_block(b, h, q0, std::min<int64_t>(kBQ, p_.nq - q0), ws);
      }
    }
    return bytes;
  }

 private:
  template <class T>
  static T* at(char* ws, size_t off) {
    return reinterpret_cast<T*>(ws + off);
  }

  // One row of q / k / v as bf16 (round to nearest even, as f32_to_bf16; exact when stored as
  // bf16). fp32 rows, the common case, convert straight from the source.
  void load_row_bf16(const AttnOperand& op, int64_t b, int64_t n, int64_t h, float* tmp, uint16_t* dst) const {
    const void* src = row_ptr(op, b, n, h);
    if (op.dtype == DType::F32) {
      const float* f = static_cast<const float*>(src);
      for (int64_t c = 0; c < D_; c += 2 * W) {
        const __m512bh pair = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(f + c + W), _mm512_loadu_ps(f + c));
        std::memcpy(dst + c, &pair, sizeof(pair));
      }
      return;
    }
    load_row_f32(src, op.dtype, D_, tmp);
    f32_to_bf16(tmp, dst, static_cast<size_t>(D_));
  }

  // K into 32-key panels of (d pair, key) words; V into (key pair, d) words: two V rows
  // interleaved 32 columns at a time. Keys past nk are 0.
  void pack_kv(int64_t b, int64_t h, char* ws) const {
    uint16_t* kp = at<uint16_t>(ws, kp_);
    uint16_t* vp = at<uint16_t>(ws, vp_);
    float* tmp = at<float>(ws, row_);
    alignas(64) uint16_t row[2][512];  // head dims up to 512 (checked in attention_flash_amx)
    alignas(64) static constexpr uint16_t kLo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                                     8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    const __m512i lo = _mm512_load_si512(kLo);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int64_t j = 0; j < nk_pad_; j += 2) {
      for (int64_t i = j + kPrefetchRows; i < std::min(p_.nk, j + kPrefetchRows + 2); ++i) {
        prefetch_row(p_.k, b, i, h, D_);
        prefetch_row(p_.v, b, i, h, D_);
      }
      for (int64_t i = 0; i < 2; ++i) {
        if (j + i < p_.nk) load_row_bf16(p_.k, b, j + i, h, tmp, row[i]);
        else std::fill(row[i], row[i] + D_, uint16_t{0});
        uint32_t* panel = reinterpret_cast<uint32_t*>(kp + ((j + i) / kPanel) * D_ * kPanel) + (j + i) % kPanel;
        const uint32_t* pairs = reinterpret_cast<const uint32_t*>(row[i]);
        for (int64_t e = 0; e < D_ / 2; ++e) panel[e * kPanel] = pairs[e];
      }
      for (int64_t i = 0; i < 2; ++i) {
        if (j + i < p_.nk) load_row_bf16(p_.v, b, j + i, h, tmp, row[i]);
        else std::fill(row[i], row[i] + D_, uint16_t{0});
      }
      uint16_t* vpair = vp + (j / 2) * D_ * 2;
      for (int64_t c = 0; c < D_; c += 2 * W) {
        const __m512i r0 = _mm512_load_si512(row[0] + c), r1 = _mm512_load_si512(row[1] + c);
        _mm512_storeu_si512(vpair + c * 2, _mm512_permutex2var_epi16(r0, lo, r1));
        _mm512_storeu_si512(vpair + c * 2 + 2 * W, _mm512_permutex2var_epi16(r0, hi, r1));
      }
    }
  }

  // S[32][32·panels] (row stride BK) = Q block · the K panels from `kpanel` on, unscaled.
  void scores(const uint16_t* qp, const uint16_t* kpanel, int64_t panels, float* s) const {
    const int64_t ldq = D_ * 2, lds = BK_ * 4;
    for (int64_t pn = 0; pn < panels; ++pn, kpanel += D_ * kPanel) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t dc = 0; dc < D_; dc += 32) {
        _tile_loadd(4, qp + dc, ldq);
        _tile_loadd(5, qp + W * D_ + dc, ldq);
        const uint16_t* kb = kpanel + dc * kPanel;  // pair row dc/2, 32 keys × 2 per row
        _tile_loadd(6, kb, kPanel * 4);
        _tile_loadd(7, kb + 2 * W, kPanel * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      float* sb = s + pn * kPanel;
      _tile_stored(0, sb, lds);
      _tile_stored(1, sb + W, lds);
      _tile_stored(2, sb + W * BK_, lds);
      _tile_stored(3, sb + W * BK_ + W, lds);
    }
  }

  // O[32][D] += P[32][32·chunks] · the V pair rows from `vblock` on.
  void accumulate_pv(const uint16_t* pb, const uint16_t* vblock, int64_t chunks, float* o) const {
    const int64_t ldo = D_ * 4, ldp = BK_ * 2, ldv = D_ * 4;
    for (int64_t c = 0; c < D_; c += 2 * W) {
      _tile_loadd(0, o + c, ldo);
      _tile_loadd(1, o + c + W, ldo);
      _tile_loadd(2, o + W * D_ + c, ldo);
      _tile_loadd(3, o + W * D_ + c + W, ldo);
      for (int64_t kc = 0; kc < chunks; ++kc) {
        _tile_loadd(4, pb + kc * kPanel, ldp);
        _tile_loadd(5, pb + W * BK_ + kc * kPanel, ldp);
        const uint16_t* vb = vblock + kc * W * D_ * 2 + c * 2;  // 16 key pairs, columns c..c+31
        _tile_loadd(6, vb, ldv);
        _tile_loadd(7, vb + 2 * W, ldv);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, o + c, ldo);
      _tile_stored(1, o + c + W, ldo);
      _tile_stored(2, o + W * D_ + c, ldo);
      _tile_stored(3, o + W * D_ + c + W, ldo);
    }
  }

  // Online softmax over one key block of `nvalid` keys, all 32 rows: m_new from the raw maxima,
  // P = 2^(S·scale·log2e - m_new) rounded to bf16 (0 past the last key, up to the 32-key chunk),
  // the row sums from the unrounded values (as FlashAttention-2), alpha = 2^(m_old - m_new).
  void softmax_block(const float* s, uint16_t* pb, int64_t nvalid, float* m, float* rowsum, float* alpha) const {
    const __m512 vq = _mm512_set1_ps(qscale_);
    const int64_t full = nvalid / W * W;
    const __mmask16 tail = static_cast<__mmask16>((1u << (nvalid - full)) - 1u);
    const int64_t ncols = round_up(nvalid, kPanel);
    for (int64_t r = 0; r < kBQ; ++r) {
      const float* srow = s + r * BK_;
      uint16_t* prow = pb + r * BK_;
      __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      for (int64_t c = 0; c < full; c += W) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(srow + c));
      if (tail) vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, srow + full));
      const float m_new = std::max(m[r], _mm512_reduce_max_ps(vmax) * qscale_);
      const __m512 vm = _mm512_set1_ps(m_new);
      __m512 vsum0 = _mm512_setzero_ps(), vsum1 = _mm512_setzero_ps();
      for (int64_t c = 0; c < ncols; c += 2 * W) {
        __m512 e0 = exp2_neg_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + c), vq, vm));
        __m512 e1 = exp2_neg_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + c + W), vq, vm));
        if (c + 2 * W > nvalid) {  // the last chunk: keys past nvalid get exactly 0
          const int64_t n0 = std::clamp<int64_t>(nvalid - c, 0, W), n1 = std::clamp<int64_t>(nvalid - c - W, 0, W);
          e0 = _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << n0) - 1u), e0);
          e1 = _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << n1) - 1u), e1);
        }
        vsum0 = _mm512_add_ps(vsum0, e0);
        vsum1 = _mm512_add_ps(vsum1, e1);
        const __m512bh pair = _mm512_cvtne2ps_pbh(e1, e0);  // low half e0, high half e1
        std::memcpy(prow + c, &pair, sizeof(pair));
      }
      rowsum[r] = _mm512_reduce_add_ps(_mm512_add_ps(vsum0, vsum1));
      alpha[r] = m[r] - m_new;
      m[r] = m_new;
    }
    for (int64_t r = 0; r < kBQ; r += W) _mm512_storeu_ps(alpha + r, exp2_neg(_mm512_loadu_ps(alpha + r)));
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
    float* tmp = at<float>(ws, row_);

    prefetch_block_rows(p_, b, h, q0, rows, kBQ);
    for (int64_t r = 0; r < rows; ++r) load_row_bf16(p_.q, b, q0 + r, h, tmp, qp + r * D_);
    std::fill(qp + rows * D_, qp + kBQ * D_, uint16_t{0});
    std::fill(o, o + kBQ * D_, 0.f);
    std::fill(m, m + kBQ, -std::numeric_limits<float>::infinity());
    std::fill(l, l + kBQ, 0.f);

    for (int64_t k0 = 0; k0 < p_.nk; k0 += BK_) {
      const int64_t nvalid = std::min(BK_, p_.nk - k0);
      const int64_t chunks = ceil_div(nvalid, kPanel);
      scores(qp, kp + (k0 / kPanel) * D_ * kPanel, chunks, s);
      softmax_block(s, pb, nvalid, m, rowsum, alpha);
      for (int64_t r = 0; r < kBQ; ++r) {  // l = l·alpha + sum; O rows scaled by alpha before the tiles reload them
        const __m512 a = _mm512_set1_ps(alpha[r]);
        l[r] = l[r] * alpha[r] + rowsum[r];
        float* orow = o + r * D_;
        for (int64_t c = 0; c < D_; c += W) _mm512_storeu_ps(orow + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), a));
      }
      accumulate_pv(pb, vp + (k0 / 2) * D_ * 2, chunks, o);
    }

    for (int64_t r = 0; r < rows; ++r) {
      const __m512 inv = _mm512_set1_ps(1.f / l[r]);
      const float* orow = o + r * D_;
      for (int64_t c = 0; c < D_; c += W) _mm512_storeu_ps(tmp + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), inv));
      store_row_f32(tmp, p_.out.dtype, D_, row_ptr(p_.out, b, q0 + r, h));
    }
  }

  const AttentionProblem& p_;
  const int64_t D_, BK_, nk_pad_;
  const float qscale_;
  size_t kp_, vp_, qp_, s_, pb_, o_, m_, l_, a_, sum_, row_, per_thread_;
};

}  // namespace

size_t attention_flash_amx(const AttentionProblem& p, FlashCpuTiling tiling) {
  if (p.compute != ComputeType::BF16 || p.head_dim % 32 != 0 || p.head_dim > 512 || !(p.scale > 0.f) ||
      p.mask.data != nullptr)
    return attention_flash_avx512bf16(p, tiling);
  return FlashCpuAmx(p, tiling).run();
}

}  // namespace da3::kernels
