// AVX2 + FMA body of the F(4x4, 3x3) Winograd convolution (compiled with -mavx2 -mfma; only
// called after CPUID says the CPU has them).
//
// Work unit: a block of up to `tiles` consecutive 4x4 output tiles in one tile row. Per block:
//   1. V[ξ][t][c] = (Bᵀ d_t B)[ξ]      36 transformed 6x6 input tiles, channels innermost
//   2. M[ξ]      = V[ξ] · U[ξ]         36 small GEMMs, (tiles x in) · (in x out)
//   3. y_t       = Aᵀ M_t A (+ bias, + residual, ReLU), stored straight into the output rows
// V and M of one block stay in L2 (36 · 18 · 64 floats = 166 KB each at 64 channels); U is
// streamed once per block. Blocks are independent, so threads split them statically.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "kernels/cpu/conv3x3_winograd.hpp"

namespace da3::kernels {
namespace {

// Tiles per block, at most 18 (3 GEMM micro-tiles of 6 rows: V and M stay in L2 up to 64 + 64
// channels) or, from 384 channels in + out, 36 (there U, 36 · in · out floats, 9.4 MB at
// 256 -> 256, is the traffic that matters, and a larger block reads it less often). A tile row
// is split into equal blocks: 36 tiles as 30 + 6 was slower than 18 + 18 or 24 + 12 (the short
// block pays for all of U). Sweep: docs/perf.md (Winograd).
int tiles_per_block(int64_t in, int64_t out, int64_t tiles_w) {
  const int64_t most = in + out >= 384 ? 36 : 18;
  const int64_t blocks = (tiles_w + most - 1) / most;
  const int64_t even = (tiles_w + blocks - 1) / blocks;
  return static_cast<int>((even + 5) / 6 * 6);
}

// Bᵀ on one column/row of 6: r = Bᵀ d.
inline void input_1d(const __m256 (&d)[6], __m256 (&r)[6]) {
  const __m256 four = _mm256_set1_ps(4.f), five = _mm256_set1_ps(5.f), two = _mm256_set1_ps(2.f);
  const __m256 a = _mm256_fnmadd_ps(four, d[2], d[4]);  // d4 - 4 d2
  const __m256 b = _mm256_fnmadd_ps(four, d[1], d[3]);  // d3 - 4 d1
  const __m256 c = _mm256_sub_ps(d[4], d[2]);
  const __m256 e = _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]));
  r[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
  r[1] = _mm256_add_ps(a, b);
  r[2] = _mm256_sub_ps(a, b);
  r[3] = _mm256_add_ps(c, e);
  r[4] = _mm256_sub_ps(c, e);
  r[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

// Aᵀ on one column/row of 6: o = Aᵀ m (4 values).
inline void output_1d(const __m256 (&m)[6], __m256 (&o)[4]) {
  const __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
  const __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
  o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
  o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.f), d34, d12);
  o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.f), s34, s12);
  o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.f), d34, d12), m[5]);
}

struct Geometry {
  int64_t oh, tiles_h, tiles_w, tiles, blocks_per_row;  // tiles: per block
};

// Step 1 for tiles [tx0, tx0 + nt) of tile row ty in image b.
void transform_inputs(const Conv3x3Problem& p, int tiles, int64_t b, int64_t ty, int64_t tx0, int nt, float* v) {
  const int64_t C = p.in;
  const int64_t vstride = static_cast<int64_t>(tiles) * C;  // between ξ planes
  const __m256 zero = _mm256_setzero_ps();
  for (int t = 0; t < nt; ++t) {
    const int64_t iy0 = 4 * ty - p.pad_rows, ix0 = 4 * (tx0 + t) - 1;
    const float* rows[6];
    for (int i = 0; i < 6; ++i) {
      const int64_t iy = iy0 + i;
      rows[i] = iy >= 0 && iy < p.h ? p.x + (b * p.h + iy) * p.w * C : nullptr;
    }
    bool col_ok[6];
    for (int j = 0; j < 6; ++j) col_ok[j] = ix0 + j >= 0 && ix0 + j < p.w;
    for (int64_t c = 0; c < C; c += 8) {
      __m256 tmp[6][6];  // Bᵀ d, column by column
      for (int j = 0; j < 6; ++j) {
        __m256 d[6], r[6];
        for (int i = 0; i < 6; ++i)
          d[i] = rows[i] && col_ok[j] ? _mm256_loadu_ps(rows[i] + (ix0 + j) * C + c) : zero;
        input_1d(d, r);
        for (int i = 0; i < 6; ++i) tmp[i][j] = r[i];
      }
      for (int i = 0; i < 6; ++i) {
        __m256 r[6];
        input_1d(tmp[i], r);
        float* dst = v + (i * 6) * vstride + t * C + c;
        for (int j = 0; j < 6; ++j) _mm256_store_ps(dst + j * vstride, r[j]);
      }
    }
  }
}

// c(R x NV vectors, stride ldc) = a(R rows, stride lda) · b(C x NV*8, stride ldb). One array per
// column vector, not acc[R][NV]: GCC keeps a 2-D array of vectors in memory and stores all 12
// accumulators every iteration (measured: 39 % of peak), 1-D arrays stay in registers.
template <int R, int NV>
inline void gemm_micro(const float* __restrict a, int64_t lda, const float* __restrict bm, int64_t ldb, int64_t C,
                       float* __restrict c, int64_t ldc) {
  static_assert(NV == 1 || NV == 2, "one or two vectors of output channels");
  __m256 acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < C; ++k) {
    const __m256 b0 = _mm256_loadu_ps(bm + k * ldb);
    const __m256 b1 = NV == 2 ? _mm256_loadu_ps(bm + k * ldb + 8) : b0;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      if constexpr (NV == 2) acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(c + r * ldc, acc0[r]);
    if constexpr (NV == 2) _mm256_store_ps(c + r * ldc + 8, acc1[r]);
  }
}

template <int NV>
void gemm_rows(int rows, const float* a, int64_t lda, const float* bm, int64_t ldb, int64_t C, float* c, int64_t ldc) {
  int r = 0;
  for (; r + 6 <= rows; r += 6) gemm_micro<6, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc);
  switch (rows - r) {
    case 5: gemm_micro<5, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc); break;
    case 4: gemm_micro<4, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc); break;
    case 3: gemm_micro<3, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc); break;
    case 2: gemm_micro<2, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc); break;
    case 1: gemm_micro<1, NV>(a + r * lda, lda, bm, ldb, C, c + r * ldc, ldc); break;
    default: break;
  }
}

// Step 2: M[ξ] = V[ξ] · U[ξ] for the block's nt tiles.
void multiply(const Conv3x3Problem& p, int tiles, int nt, const float* v, float* m) {
  const int64_t C = p.in, K = p.out;
  for (int xi = 0; xi < 36; ++xi) {
    const float* vx = v + xi * tiles * C;
    const float* ux = p.u + xi * C * K;
    float* mx = m + xi * tiles * K;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) gemm_rows<2>(nt, vx, C, ux + k, K, C, mx + k, K);
    if (k < K) gemm_rows<1>(nt, vx, C, ux + k, K, C, mx + k, K);
  }
}

// Step 3: output transform, epilogue and store for the block's tiles.
void transform_outputs(const Conv3x3Problem& p, const Geometry& g, int tiles, int64_t b, int64_t ty, int64_t tx0, int nt,
                       const float* m) {
  const int64_t K = p.out;
  const int64_t mstride = static_cast<int64_t>(tiles) * K;
  const __m256 zero = _mm256_setzero_ps();
  const int64_t oy0 = 4 * ty;
  const int rows_out = static_cast<int>(std::min<int64_t>(4, g.oh - oy0));
  for (int t = 0; t < nt; ++t) {
    const int64_t ox0 = 4 * (tx0 + t);
    const int cols_out = static_cast<int>(std::min<int64_t>(4, p.w - ox0));
    for (int64_t k = 0; k < K; k += 8) {
      const float* src = m + t * K + k;
      __m256 s[4][6];  // Aᵀ M, column by column
      for (int j = 0; j < 6; ++j) {
        __m256 col[6], o[4];
        for (int i = 0; i < 6; ++i) col[i] = _mm256_load_ps(src + (i * 6 + j) * mstride);
        output_1d(col, o);
        for (int a = 0; a < 4; ++a) s[a][j] = o[a];
      }
      const __m256 bias = p.bias ? _mm256_loadu_ps(p.bias + k) : zero;
      for (int a = 0; a < rows_out; ++a) {
        __m256 o[4];
        output_1d(s[a], o);
        float* dst = p.y + ((b * g.oh + oy0 + a) * p.w + ox0) * K + k;
        for (int q = 0; q < cols_out; ++q) {
          __m256 r = _mm256_add_ps(o[q], bias);
          if (p.accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(dst + q * K));
          if (p.relu) r = _mm256_max_ps(r, zero);
          _mm256_storeu_ps(dst + q * K, r);
        }
      }
    }
  }
}

Geometry geometry(const Conv3x3Problem& p) {
  Geometry g;
  g.oh = p.h + 2 * p.pad_rows - 2;
  g.tiles_h = (g.oh + 3) / 4;
  g.tiles_w = (p.w + 3) / 4;
  g.tiles = tiles_per_block(p.in, p.out, g.tiles_w);
  g.blocks_per_row = (g.tiles_w + g.tiles - 1) / g.tiles;
  return g;
}

// Per thread: V and M of one block; multiples of 8 floats, so every slice stays 32-byte aligned.
size_t per_thread_floats(const Conv3x3Problem& p, const Geometry& g) {
  return static_cast<size_t>(36 * g.tiles * (p.in + p.out));
}

}  // namespace

size_t conv3x3_winograd_avx2_scratch_floats(const Conv3x3Problem& p) {
  return per_thread_floats(p, geometry(p)) * static_cast<size_t>(omp_get_max_threads());
}

void conv3x3_winograd_avx2(const Conv3x3Problem& p) {
  const Geometry g = geometry(p);
  const int tiles = static_cast<int>(g.tiles);
  const int64_t blocks = p.n * g.tiles_h * g.blocks_per_row;
  const size_t v_floats = static_cast<size_t>(36 * tiles * p.in), per_thread = per_thread_floats(p, g);
  float* scratch = p.scratch;
  #pragma omp parallel
  {
    float* v = scratch + per_thread * static_cast<size_t>(omp_get_thread_num());
    float* m = v + v_floats;
    #pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t b = blk / (g.tiles_h * g.blocks_per_row);
      const int64_t rest = blk % (g.tiles_h * g.blocks_per_row);
      const int64_t ty = rest / g.blocks_per_row, tx0 = rest % g.blocks_per_row * tiles;
      const int nt = static_cast<int>(std::min<int64_t>(tiles, g.tiles_w - tx0));
      transform_inputs(p, tiles, b, ty, tx0, nt, v);
      multiply(p, tiles, nt, v, m);
      transform_outputs(p, g, tiles, b, ty, tx0, nt, m);
    }
  }
}

}  // namespace da3::kernels
