// AVX2 + FMA instantiation of the F(4x4, 3x3) Winograd convolution (conv3x3_winograd_body.hpp;
// compiled with -mavx2 -mfma, only called after CPUID says the CPU has them).
#include "kernels/cpu/conv3x3_winograd_body.hpp"

namespace da3::kernels {
namespace {

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

// Step 2's GEMM, 8-wide: output channels in pairs of vectors, a last single one.
struct GemmAvx2 {
  static void rows(int nt, const float* vx, int64_t C, const float* ux, int64_t K, float* mx) {
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) gemm_rows<2>(nt, vx, C, ux + k, K, C, mx + k, K);
    if (k < K) gemm_rows<1>(nt, vx, C, ux + k, K, C, mx + k, K);
  }
};

}  // namespace

size_t conv3x3_winograd_avx2_scratch_floats(const Conv3x3Problem& p) { return scratch_floats(p); }

void conv3x3_winograd_avx2(const Conv3x3Problem& p) { run<GemmAvx2>(p); }

}  // namespace da3::kernels
