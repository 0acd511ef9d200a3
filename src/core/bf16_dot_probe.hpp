#pragma once
// A few milliseconds of arithmetic that say whether this CPU's vdpbf16ps out-runs its fp32 FMAs:
// on AMD Zen 4 it does (about 2x the FLOPs), on Intel cores it runs at about half their fp32 FMA
// rate (docs/perf.md), which decides how --precision bf16 runs there (da3/cpu.hpp, Bf16Mode).
namespace da3::detail {

struct Bf16DotProbe {
  double fma_gflops = 0;   // one thread, 512-bit fp32 FMA chains
  double bf16_gflops = 0;  // one thread, 512-bit vdpbf16ps chains (2 FLOPs per bf16 pair)
};

// Needs AVX512F + AVX512_BF16 (the caller checks). Each loop runs `iters` x 16 instructions;
// rounds alternate the two loops and keep each one's best, so a preempted round does not decide.
Bf16DotProbe probe_bf16_dot_rate(long iters = 40'000, int rounds = 5);

}  // namespace da3::detail
