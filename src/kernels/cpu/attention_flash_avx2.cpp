// AVX2 + FMA instantiation of the CPU flash-attention kernel (compiled with -mavx2 -mfma -mf16c;
// only called after CPUID says the CPU has them). This is the variant Zen 1-3 and pre-AVX-512
// Intel cores run.
#include <immintrin.h>

#include "kernels/cpu/attention_flash_body.hpp"

namespace da3::kernels {
namespace {

struct Avx2 {
  using reg = __m256;
  static constexpr int width = 8;
  // 6 rows × 2 vectors = 12 accumulators; with 2 operand vectors and 1 broadcast, 15 of the 16
  // ymm registers.
  static constexpr int mr = 6;
  // Query block 72 rows, key block 256 keys: see docs/perf.md (attention) for the sweep.
  static constexpr int strips = 12;
  static constexpr int block_k = 256;

  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }

  static float hmax(reg v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static float hsum(reg v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }

  // The float whose bits are those of t shifted left by 23: builds 2^n from n in the low
  // mantissa bits (see exp2_n in attention_flash_body.hpp).
  static reg shl23(reg t) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)); }

  // Round to the nearest bf16 (ties to even), kept in fp32. Only used on probabilities in
  // [0, 1], so NaN and overflow need no care.
  static reg round_bf16(reg v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static reg round_f16(reg v) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
};

}  // namespace

size_t attention_flash_avx2(const AttentionProblem& p, FlashCpuTiling tiling) {
  return FlashCpu<Avx2>(p, tiling).run();
}

}  // namespace da3::kernels
