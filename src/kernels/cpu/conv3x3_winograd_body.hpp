#pragma once
// The F(4x4, 3x3) Winograd convolution body, written once and compiled per ISA by
// conv3x3_winograd_avx2.cpp / conv3x3_winograd_avx512.cpp (each with its own -m flags); the
// files differ only in the GEMM of step 2 (a `Gemm` policy), where the multiply-adds are. The
// transforms stay 8-wide (AVX2): they are linear in the channel count.
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
// kReluInput: max(x, 0) on every input value as it is read (a ReLU before the convolution, with
// no copy of the input); a NaN reads as 0, as nn::relu makes it.
template <bool kReluInput>
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
        if constexpr (kReluInput)
          for (int i = 0; i < 6; ++i) d[i] = _mm256_max_ps(d[i], zero);  // NaN: max_ps returns its 2nd operand
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

// Step 2: M[ξ] = V[ξ] · U[ξ] for the block's nt tiles.
template <class Gemm>
void multiply(const Conv3x3Problem& p, int tiles, int nt, const float* v, float* m) {
  const int64_t C = p.in, K = p.out;
  for (int xi = 0; xi < 36; ++xi) {
    const float* vx = v + xi * tiles * C;
    const float* ux = p.u + xi * C * K;
    float* mx = m + xi * tiles * K;
    Gemm::rows(nt, vx, C, ux, K, mx);
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


// Runs p (p.scratch set) with the GEMM policy `Gemm` on all OpenMP threads.
template <class Gemm>
void run(const Conv3x3Problem& p) {
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
      if (p.relu_input)
        transform_inputs<true>(p, tiles, b, ty, tx0, nt, v);
      else
        transform_inputs<false>(p, tiles, b, ty, tx0, nt, v);
      multiply<Gemm>(p, tiles, nt, v, m);
      transform_outputs(p, g, tiles, b, ty, tx0, nt, m);
    }
  }
}

size_t scratch_floats(const Conv3x3Problem& p) {
  return per_thread_floats(p, geometry(p)) * static_cast<size_t>(omp_get_max_threads());
}

}  // namespace
}  // namespace da3::kernels
