// AVX-512 LayerNorm row (layer_norm_row.hpp); compiled with -mavx512f/bw/vl/dq -mfma, called only
// after CPUID says the CPU has them.
#include <immintrin.h>

#include "kernels/cpu/layer_norm_row.hpp"
#include "kernels/cpu/layer_norm_row_body.hpp"

namespace da3::kernels {
namespace {

struct Avx512 {
  static constexpr int width = 16;
  using reg = __m512;
  // Two 8-lane double accumulators: the low and high halves of each float vector, widened.
  struct dacc {
    __m512d lo, hi;
  };
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg add(reg a, reg c) { return _mm512_add_ps(a, c); }
  static reg sub(reg a, reg c) { return _mm512_sub_ps(a, c); }
  static reg mul(reg a, reg c) { return _mm512_mul_ps(a, c); }
  static dacc dzero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  static dacc dset1(double v) { return {_mm512_set1_pd(v), _mm512_set1_pd(v)}; }
  static __m512d lo(reg v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
  static __m512d hi(reg v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
  static dacc add_widened(dacc a, reg v) { return {_mm512_add_pd(a.lo, lo(v)), _mm512_add_pd(a.hi, hi(v))}; }
  static dacc add_sq_dev_widened(dacc a, reg v, dacc m) {
    const __m512d dl = _mm512_sub_pd(lo(v), m.lo), dh = _mm512_sub_pd(hi(v), m.hi);
    return {_mm512_fmadd_pd(dl, dl, a.lo), _mm512_fmadd_pd(dh, dh, a.hi)};
  }
  static double dsum(dacc a) { return _mm512_reduce_add_pd(_mm512_add_pd(a.lo, a.hi)); }
};

}  // namespace

void layer_norm_row_avx512(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  layer_norm_row_body<Avx512>(x, n, w, b, eps, y);
}

}  // namespace da3::kernels
