// Prints this machine's fp32 FMA peak for 1 thread and for N threads (see docs/perf.md): the
// number that GFLOP/s elsewhere are quoted against. `da3 bench model` measures the same itself.
//
//   da3_fma_peak [threads]
#include <omp.h>

#include <cstdio>
#include <cstdlib>

#include "da3/cpu.hpp"
#include "kernels/cpu/fma_peak.hpp"

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : omp_get_max_threads();
  const da3::CpuFeatures& f = da3::cpu_features();
  std::printf("CPU: %s (%s)\n", f.brand.c_str(), da3::cpu_isa_name());
  const auto one = da3::kernels::measure_fma_peak(1, 50'000'000);
  const auto all = da3::kernels::measure_fma_peak(threads, 50'000'000);
  if (one.gflops == 0) {
    std::printf("no AVX2/FMA: peak not measured\n");
    return 0;
  }
  std::printf("%s fma fp32 peak: 1 thread %.1f GFLOP/s; %d threads %.1f GFLOP/s\n", one.isa, one.gflops, threads,
              all.gflops);
  return 0;
}
