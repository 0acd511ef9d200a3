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
  // The 16 floats at p as two 8-lane double vectors, each half loaded at 256 bits (GCC 12 warns
  // about the undefined pass-through operand of its 512 -> 256-bit extract and cast intrinsics).
  static __m512d lo(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static __m512d hi(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)); }
  static dacc add_widened(dacc a, const float* p) { return {_mm512_add_pd(a.lo, lo(p)), _mm512_add_pd(a.hi, hi(p))}; }
  static dacc add_sq_dev_widened(dacc a, const float* p, dacc m) {
    const __m512d dl = _mm512_sub_pd(lo(p), m.lo), dh = _mm512_sub_pd(hi(p), m.hi);
    return {_mm512_fmadd_pd(dl, dl, a.lo), _mm512_fmadd_pd(dh, dh, a.hi)};
  }
  static double dsum(dacc a) {
    alignas(64) double t[8];
    _mm512_store_pd(t, _mm512_add_pd(a.lo, a.hi));
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
  }
};

}  // namespace

void layer_norm_row_avx512(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  layer_norm_row_body<Avx512>(x, n, w, b, eps, y);
}

}  // namespace da3::kernels
