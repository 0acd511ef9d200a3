#pragma once
// This machine's fp32 FMA throughput, measured: the "peak" that benchmarks quote achieved
// GFLOP/s against. Each thread runs independent FMA chains (more chains than FMA latency times
// FMA pipes, so the pipes are the limit) on the widest vectors the CPU has.
namespace da3::kernels {

struct FmaPeak {
  double gflops = 0;       // best of a few rounds, all threads together
  const char* isa = "";    // "avx512", "avx2" or "scalar" (no FMA vectors: not measured, 0)
};

// Takes about 0.1 s per 50M iterations and thread-round; `iters` per thread and round.
FmaPeak measure_fma_peak(int threads, long iters = 20'000'000);

}  // namespace da3::kernels
