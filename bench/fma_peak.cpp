// Measures this machine's fp32 FMA throughput: the "peak" that attention GFLOP/s are quoted
// against. Each thread runs independent FMA chains (more chains than the FMA latency times the
// number of FMA pipes, so the pipes, not the dependency, are the limit) on 256-bit (AVX2) and,
// where the CPU has it, 512-bit (AVX-512) registers.
//
//   da3_fma_peak [threads]   -> prints GFLOP/s per ISA for 1 thread and for `threads` threads
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "da3/cpu.hpp"

namespace {

// 12 independent accumulators: Zen 1 has FMA latency 5 with one 256-bit FMA per cycle, Zen 4
// and Intel cores latency 4 with two per cycle, so 8-10 chains are needed; 12 leaves margin.
__attribute__((target("avx2,fma"))) double run_avx2(long iters) {
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

__attribute__((target("avx512f"))) double run_avx512(long iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

// GFLOP/s with `threads` threads each running `iters` iterations of 12 FMAs of `lanes` floats.
template <class F>
double measure(F kernel, int lanes, int threads, long iters) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<double> sink(threads);
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    sink[omp_get_thread_num()] = kernel(iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * 12 * lanes * static_cast<double>(iters) * threads;
    if (sink[0] == 12345.0) std::printf(" ");  // keeps the result alive
    best = std::max(best, flops / s * 1e-9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : omp_get_max_threads();
  const long iters = 50'000'000;
  const da3::CpuFeatures& f = da3::cpu_features();
  std::printf("CPU: %s (%s)\n", f.brand.c_str(), da3::cpu_isa_name());
  if (f.avx2 && f.fma) {
    const double one = measure(run_avx2, 8, 1, iters);
    const double all = measure(run_avx2, 8, threads, iters);
    std::printf("avx2 fma fp32 peak: 1 thread %.1f GFLOP/s; %d threads %.1f GFLOP/s\n", one, threads, all);
  }
  if (f.avx512f) {
    const double one = measure(run_avx512, 16, 1, iters / 2);
    const double all = measure(run_avx512, 16, threads, iters / 2);
    std::printf("avx512 fma fp32 peak: 1 thread %.1f GFLOP/s; %d threads %.1f GFLOP/s\n", one, threads, all);
  }
  return 0;
}
