#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "core/bf16_dot_probe.hpp"

namespace da3::detail {

namespace {

// 16 independent chains in each loop: more than latency x pipes for either instruction on the
// cores seen (FMA: latency 4, two pipes), so the loop measures throughput, not latency.
#define DA3_PROBE_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

double fma_seconds(long iters, float* sink) {
#define DA3_DECL(i) __m512 a##i = _mm512_set1_ps(1.0f + 1e-3f * i);
  DA3_PROBE_CHAINS(DA3_DECL)
#undef DA3_DECL
  __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  __asm__ volatile("" : "+v"(b), "+v"(c));  // not constants the compiler could fold
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
#define DA3_STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
    DA3_PROBE_CHAINS(DA3_STEP)
#undef DA3_STEP
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = _mm512_setzero_ps();
#define DA3_SUM(i) sum = _mm512_add_ps(sum, a##i);
  DA3_PROBE_CHAINS(DA3_SUM)
#undef DA3_SUM
  *sink += _mm512_reduce_add_ps(sum);
  return s;
}

double dot_seconds(long iters, float* sink) {
#define DA3_DECL(i) __m512 a##i = _mm512_set1_ps(1e-3f * i);
  DA3_PROBE_CHAINS(DA3_DECL)
#undef DA3_DECL
  __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3000);  // 1.0, ~4.7e-10
  __asm__ volatile("" : "+v"(b), "+v"(c));
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
#define DA3_STEP(i) a##i = _mm512_dpbf16_ps(a##i, b, c);
    DA3_PROBE_CHAINS(DA3_STEP)
#undef DA3_STEP
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = _mm512_setzero_ps();
#define DA3_SUM(i) sum = _mm512_add_ps(sum, a##i);
  DA3_PROBE_CHAINS(DA3_SUM)
#undef DA3_SUM
  *sink += _mm512_reduce_add_ps(sum);
  return s;
}

#undef DA3_PROBE_CHAINS

}  // namespace

Bf16DotProbe probe_bf16_dot_rate(long iters, int rounds) {
  volatile float keep = 0;  // the chains' results must look used, or the loops vanish
  float sink = 0;
  double fma = 1e30, dot = 1e30;
  for (int r = 0; r < rounds; ++r) {
    fma = std::min(fma, fma_seconds(iters, &sink));
    dot = std::min(dot, dot_seconds(iters, &sink));
  }
  keep = keep + sink;
  const double n = 16.0 * static_cast<double>(iters);
  return {n * 32 / fma * 1e-9, n * 64 / dot * 1e-9};  // 16 lanes x 2; 32 bf16 pairs x 2
}

}  // namespace da3::detail
