// AVX-512 instantiation of the F(4x4, 3x3) Winograd convolution (conv3x3_winograd_body.hpp;
// compiled with -mavx512f/bw/vl/dq -mfma, only called after CPUID says the CPU has them). Only
// step 2's GEMM is 16-wide: up to 4 vectors (64 output channels) per 6-row micro-tile, 24
// accumulators of the 32 zmm registers, so each broadcast of V feeds 4 FMAs instead of 2.
#include "kernels/cpu/conv3x3_winograd_body.hpp"

namespace da3::kernels {
namespace {

// c(R rows x NV vectors of 16, stride ldc) = a(R rows, stride lda) · b(C x 16·NV, stride ldb).
// One array per column vector (see the AVX2 file: GCC keeps 2-D arrays of vectors in memory).
template <int R, int NV>
inline void gemm_micro512(const float* __restrict a, int64_t lda, const float* __restrict bm, int64_t ldb, int64_t C,
                          float* __restrict c, int64_t ldc) {
  static_assert(NV >= 1 && NV <= 4, "one to four vectors of output channels");
  __m512 acc0[R], acc1[R], acc2[R], acc3[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = acc2[r] = acc3[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < C; ++k) {
    const float* bk = bm + k * ldb;
    const __m512 b0 = _mm512_loadu_ps(bk);
    const __m512 b1 = NV > 1 ? _mm512_loadu_ps(bk + 16) : b0;
    const __m512 b2 = NV > 2 ? _mm512_loadu_ps(bk + 32) : b0;
    const __m512 b3 = NV > 3 ? _mm512_loadu_ps(bk + 48) : b0;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      if constexpr (NV > 1) acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
      if constexpr (NV > 2) acc2[r] = _mm512_fmadd_ps(av, b2, acc2[r]);
      if constexpr (NV > 3) acc3[r] = _mm512_fmadd_ps(av, b3, acc3[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc0[r]);
    if constexpr (NV > 1) _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
    if constexpr (NV > 2) _mm512_storeu_ps(c + r * ldc + 32, acc2[r]);
    if constexpr (NV > 3) _mm512_storeu_ps(c + r * ldc + 48, acc3[r]);
  }
}

// The last 8 channels of a count that is 8 mod 16: one ymm vector.
template <int R>
inline void gemm_micro256(const float* __restrict a, int64_t lda, const float* __restrict bm, int64_t ldb, int64_t C,
                          float* __restrict c, int64_t ldc) {
  __m256 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < C; ++k) {
    const __m256 b = _mm256_loadu_ps(bm + k * ldb);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a[r * lda + k]), b, acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(c + r * ldc, acc[r]);
}

template <int R>
void micro_columns(const float* a, int64_t lda, const float* ux, int64_t K, int64_t C, float* c) {
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) gemm_micro512<R, 4>(a, lda, ux + k, K, C, c + k, K);
  switch ((K - k) / 16) {
    case 3: gemm_micro512<R, 3>(a, lda, ux + k, K, C, c + k, K); k += 48; break;
    case 2: gemm_micro512<R, 2>(a, lda, ux + k, K, C, c + k, K); k += 32; break;
    case 1: gemm_micro512<R, 1>(a, lda, ux + k, K, C, c + k, K); k += 16; break;
    default: break;
  }
  if (k < K) gemm_micro256<R>(a, lda, ux + k, K, C, c + k, K);  // K is a multiple of 8
}

struct GemmAvx512 {
  static void rows(int nt, const float* vx, int64_t C, const float* ux, int64_t K, float* mx) {
    int r = 0;
    for (; r + 6 <= nt; r += 6) micro_columns<6>(vx + r * C, C, ux, K, C, mx + r * K);
    switch (nt - r) {
      case 5: micro_columns<5>(vx + r * C, C, ux, K, C, mx + r * K); break;
      case 4: micro_columns<4>(vx + r * C, C, ux, K, C, mx + r * K); break;
      case 3: micro_columns<3>(vx + r * C, C, ux, K, C, mx + r * K); break;
      case 2: micro_columns<2>(vx + r * C, C, ux, K, C, mx + r * K); break;
      case 1: micro_columns<1>(vx + r * C, C, ux, K, C, mx + r * K); break;
      default: break;
    }
  }
};

}  // namespace

size_t conv3x3_winograd_avx512_scratch_floats(const Conv3x3Problem& p) { return scratch_floats(p); }

void conv3x3_winograd_avx512(const Conv3x3Problem& p) { run<GemmAvx512>(p); }

}  // namespace da3::kernels
