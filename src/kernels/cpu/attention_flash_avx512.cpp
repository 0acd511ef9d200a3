// AVX-512 instantiation of the CPU flash-attention kernel (compiled with -mavx512f/bw/vl/dq
// -mfma -mf16c; only called after CPUID says the CPU has them).
//
// NOTE: written on an AVX2-only machine (Zen 1), so this file has been compiled but never run
// there. It is the same kernel body as the AVX2 variant (which the tests exercise), with 16-wide
// traits; the tests exercise it on any machine that has AVX-512.
#include <immintrin.h>

#include "kernels/cpu/attention_flash_body.hpp"

namespace da3::kernels {
namespace {

struct Avx512 {
  using reg = __m512;
  static constexpr int width = 16;
  // 8 rows × 2 vectors = 16 accumulators, + 2 operands + 1 broadcast: 19 of the 32 zmm registers.
  static constexpr int mr = 8;
  static constexpr int strips = 8;     // query block 64 rows
  static constexpr int block_k = 256;  // keys per block (as AVX2; not tuned on AVX-512 hardware)

  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static float hmax(reg v) { return _mm512_reduce_max_ps(v); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }

  // The float whose bits are those of t shifted left by 23: builds 2^n from n in the low
  // mantissa bits (see exp2_n in attention_flash_body.hpp).
  static reg shl23(reg t) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23)); }

  static reg round_bf16(reg v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static reg round_f16(reg v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

}  // namespace

size_t attention_flash_avx512(const AttentionProblem& p, FlashCpuTiling tiling) {
  return FlashCpu<Avx512>(p, tiling).run();
}

}  // namespace da3::kernels
