#pragma once
#include <string>

namespace da3 {

// What the CPU can run, read once from CPUID (and the OS's XSAVE state for AVX/AVX-512).
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512_bf16 = false;
  // AMX: CPUID lists AMX-TILE and AMX-BF16, and the OS saves the tile state (XCR0 bits 17, 18).
  bool amx_bf16 = false;
  // ...and Linux granted this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, asked once
  // at detection): without that grant the first tile instruction kills the process (SIGILL).
  bool amx_usable = false;
  std::string brand;
  // bf16 arithmetic in hardware (vdpbf16ps or AMX tiles): where --precision bf16 runs at all.
  // Whether its products beat fp32 FMAs is another matter: cpu_bf16_support().
  bool bf16_arithmetic() const { return avx512_bf16 || amx_usable; }
};

const CpuFeatures& cpu_features();
// The best ISA tier our kernels use on this CPU: "avx512-bf16", "avx512", "avx2" or "scalar".
const char* cpu_isa_name();
// The precisions this CPU runs at full speed, for da3 info and the bf16 refusal:
// "fp32, bf16 (AVX512_BF16)", "fp32, bf16 (AMX-BF16 + AVX512_BF16)" or "fp32" (then with why
// bf16 is not among them: no bf16 arithmetic, or vdpbf16ps slower than fp32 FMAs).
std::string cpu_fast_precisions();

// How --precision bf16 runs on this CPU.
//  Compute:     products in bf16 (AMX tiles, or vdpbf16ps where it out-runs fp32 FMAs), fp32
//               accumulation; weights stored in bf16.
//  WeightsOnly: weights stored in bf16 (half their memory), products in fp32: the CPU has
//               vdpbf16ps but it runs slower than its fp32 FMAs (measured: Intel cores without
//               AMX run it at half the fp32 FMA rate, docs/perf.md), so bf16 products would make
//               the model slower than fp32.
//  Unsupported: no bf16 arithmetic; --precision bf16 is refused.
// Decided once per process: AMX means Compute; AVX512_BF16 alone is measured (a few ms of
// vdpbf16ps and FMA chains on one thread, bf16 must reach 1.25x the fp32 rate).
// DA3_BF16_COMPUTE=1 / 0 forces Compute / WeightsOnly where bf16 arithmetic exists (read on every
// call; auto or unset: the measurement).
enum class Bf16Mode { Unsupported, WeightsOnly, Compute };
struct Bf16Support {
  Bf16Mode mode = Bf16Mode::Unsupported;
  // vdpbf16ps FLOP rate / fp32 FMA FLOP rate on one thread (0: not measured: AMX or no AVX512_BF16).
  double dot_rate_vs_fp32 = 0;
  std::string why;  // one sentence for da3 info and the log
};
Bf16Support cpu_bf16_support();
const char* bf16_mode_name(Bf16Mode m);  // "compute", "weights-only", "unsupported"

}  // namespace da3
