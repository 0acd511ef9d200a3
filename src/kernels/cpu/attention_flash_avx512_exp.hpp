#pragma once
// 2^x on 16 fp32 lanes for the AVX-512 softmax of the bf16 flash kernels (vdpbf16ps and AMX).
// Only included by per-ISA files compiled with AVX-512 flags; `static` gives every such file its
// own copy, so a generic caller can never link to one of them (see attention_rows.hpp).
#include <immintrin.h>

namespace da3::kernels {

// 2^x for x <= 0 (score minus running max), as exp2_n in attention_flash_body.hpp: the exponent
// built from the rounded integer part, 2^f from a degree-5 polynomial; x <= -127 gives exactly 0.
static inline __m512 exp2_neg(__m512 x) {
  const __m512 magic = _mm512_set1_ps(12582912.f + 127.f);
  x = _mm512_max_ps(_mm512_set1_ps(-127.f), x);
  const __m512 t = _mm512_add_ps(x, magic);
  const __m512 f = _mm512_sub_ps(x, _mm512_sub_ps(t, magic));
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.3395280111581087e-3f), f, _mm512_set1_ps(9.670763276517391e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550340563058853e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022211134433746e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471824645996e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23)));
}

// 2^x for x <= 0 to bf16 accuracy, for the AMX kernel, whose softmax is the larger half of its
// time: a degree-3 polynomial (relative error 7.5e-5, a 27th of bf16's half-ulp of 2^-9; fitted
// for relative error on [-1/2, 1/2] by iteratively reweighted least squares) on the fraction left
// by round-to-nearest, and VSCALEFPS for the power of two, which also takes any x <= -150 to 0
// without a clamp: 6 instructions where exp2_neg needs 11.
static inline __m512 exp2_neg_bf16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(5.517162704804421e-2f), f, _mm512_set1_ps(2.4261117167503485e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.932609977919694e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.999280708313842e-1f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace da3::kernels
