#include "kernels/cpu/fma_peak.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "da3/cpu.hpp"

namespace da3::kernels {

namespace {

// 12 independent accumulators: Zen 1 has FMA latency 5 with one 256-bit FMA per cycle, Zen 4
// and Intel cores latency 4 with two per cycle, so 8-10 chains are needed; 12 leaves margin.
__attribute__((target("avx2,fma"))) float run_avx2(long iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"))) float run_avx512(long iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  // Stored, not _mm512_reduce_add_ps: GCC 12 warns (-Wuninitialized) inside that intrinsic's
  // header code. One lane is enough to keep the chains live, as in run_avx2.
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}

template <class F>
double measure(F kernel, int lanes, int threads, long iters) {
  double best = 0;
  volatile float keep = 0;  // the chains' results must look used, or the loops vanish
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<float> sink(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    sink[static_cast<size_t>(omp_get_thread_num())] = kernel(iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    keep = keep + sink[0];
    best = std::max(best, 2.0 * 12 * lanes * static_cast<double>(iters) * threads / s * 1e-9);
  }
  return best;
}

}  // namespace

FmaPeak measure_fma_peak(int threads, long iters) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f) return {measure(run_avx512, 16, threads, iters / 2), "avx512"};
  if (f.avx2 && f.fma) return {measure(run_avx2, 8, threads, iters), "avx2"};
  return {0, "scalar"};
}

}  // namespace da3::kernels
