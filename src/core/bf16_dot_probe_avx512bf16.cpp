#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "core/bf16_dot_probe.hpp"

namespace da3::detail {

namespace {

// 16 independent chains: more than latency x pipes for either instruction on the cores seen
// (FMA: latency 4, two pipes), so the loop measures throughput, not latency. The unrolled loops
// keep every chain in a register (checked with objdump: no loads or stores in the timed loop).
constexpr int kChains = 16;

// Seconds for `iters` rounds of a = step(a, b, c) on every chain; the chains' sum goes to *sink
// so that the loop is not dead code.
template <class Operand, class Step>
double chains_seconds(long iters, float a0, Operand b, Operand c, Step step, float* sink) {
  __m512 a[kChains];
#pragma GCC unroll 16
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(a0 + 1e-3f * i);
  __asm__ volatile("" : "+v"(b), "+v"(c));  // not constants the compiler could fold
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) a[i] = step(a[i], b, c);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < kChains; ++i) sum = _mm512_add_ps(sum, a[i]);
  float lanes[16];  // not _mm512_reduce_add_ps, whose header code GCC 12 flags (-Wuninitialized)
  _mm512_storeu_ps(lanes, sum);
  *sink += lanes[0];
  return s;
}

double fma_seconds(long iters, float* sink) {
  return chains_seconds(
      iters, 1.0f, _mm512_set1_ps(0.999999f), _mm512_set1_ps(1e-7f),
      [](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }, sink);
}

double dot_seconds(long iters, float* sink) {
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80), tiny = (__m512bh)_mm512_set1_epi16(0x3000);  // ~4.7e-10
  return chains_seconds(
      iters, 0.0f, one, tiny, [](__m512 a, __m512bh b, __m512bh c) { return _mm512_dpbf16_ps(a, b, c); }, sink);
}

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
  const double n = static_cast<double>(kChains) * static_cast<double>(iters);
  return {n * 32 / fma * 1e-9, n * 64 / dot * 1e-9};  // 16 lanes x 2; 32 bf16 pairs x 2
}

}  // namespace da3::detail
