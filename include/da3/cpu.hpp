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
  // bf16 arithmetic in hardware (vdpbf16ps or AMX tiles): where --precision bf16 is worth it.
  bool bf16_fast() const { return avx512_bf16 || amx_usable; }
};

const CpuFeatures& cpu_features();
// The best ISA tier our kernels use on this CPU: "avx512-bf16", "avx512", "avx2" or "scalar".
const char* cpu_isa_name();
// The precisions this CPU runs at full speed, for da3 info and the bf16 refusal:
// "fp32, bf16 (AVX512_BF16)", "fp32, bf16 (AMX-BF16 + AVX512_BF16)" or "fp32".
std::string cpu_fast_precisions();

}  // namespace da3
