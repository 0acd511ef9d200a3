// AVX2 LayerNorm row (layer_norm_row.hpp); compiled with -mavx2 -mfma, called only after CPUID.
#include <immintrin.h>

#include "kernels/cpu/layer_norm_row.hpp"
#include "kernels/cpu/layer_norm_row_body.hpp"

namespace da3::kernels {
namespace {

struct Avx2 {
  static constexpr int width = 8;
  using reg = __m256;
  // Two 4-lane double accumulators: the low and high halves of each float vector, widened.
  struct dacc {
    __m256d lo, hi;
  };
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg add(reg a, reg c) { return _mm256_add_ps(a, c); }
  static reg sub(reg a, reg c) { return _mm256_sub_ps(a, c); }
  static reg mul(reg a, reg c) { return _mm256_mul_ps(a, c); }
  static dacc dzero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static dacc dset1(double v) { return {_mm256_set1_pd(v), _mm256_set1_pd(v)}; }
  // The 8 floats at p as two 4-lane double vectors.
  static __m256d lo(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static __m256d hi(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p + 4)); }
  static dacc add_widened(dacc a, const float* p) { return {_mm256_add_pd(a.lo, lo(p)), _mm256_add_pd(a.hi, hi(p))}; }
  static dacc add_sq_dev_widened(dacc a, const float* p, dacc m) {
    const __m256d dl = _mm256_sub_pd(lo(p), m.lo), dh = _mm256_sub_pd(hi(p), m.hi);
    return {_mm256_fmadd_pd(dl, dl, a.lo), _mm256_fmadd_pd(dh, dh, a.hi)};
  }
  static double dsum(dacc a) {
    const __m256d s = _mm256_add_pd(a.lo, a.hi);
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
};

}  // namespace

void layer_norm_row_avx2(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  layer_norm_row_body<Avx2>(x, n, w, b, eps, y);
}

}  // namespace da3::kernels
