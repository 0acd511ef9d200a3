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
  std::string brand;
};

const CpuFeatures& cpu_features();
// The best ISA tier our kernels use on this CPU: "avx512-bf16", "avx512", "avx2" or "scalar".
const char* cpu_isa_name();

}  // namespace da3
