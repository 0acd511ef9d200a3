#include "da3/cpu.hpp"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace da3 {

namespace {

uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux (5.16+) hands out the 8 KB tile data state only to processes that ask for it.
bool request_amx_permission() {
#ifdef __linux__
  constexpr long kArchReqXcompPerm = 0x1023;  // arch/x86/include/uapi/asm/prctl.h
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & bit_OSXSAVE;
  f.fma = c & bit_FMA;
  f.f16c = c & bit_F16C;
  // The OS must save the vector state, or the instructions fault even if CPUID lists them.
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_os = (xcr0 & 0x6) == 0x6;
  const bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = ymm_os && (b & bit_AVX2);
    f.avx512f = zmm_os && (b & bit_AVX512F);
    f.avx512bw = zmm_os && (b & bit_AVX512BW);
    f.avx512vl = zmm_os && (b & bit_AVX512VL);
  }
  bool amx_cpuid = false;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) amx_cpuid = (d & (1u << 22)) && (d & (1u << 24));  // AMX-BF16, AMX-TILE
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = f.avx512f && (a & (1u << 5));
  const bool tile_os = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
  f.amx_bf16 = amx_cpuid && tile_os;
  f.amx_usable = f.amx_bf16 && request_amx_permission();
  f.fma = f.fma && ymm_os;
  f.f16c = f.f16c && ymm_os;
  char brand[49] = {0};
  unsigned max_ext = __get_cpuid_max(0x80000000, nullptr);
  if (max_ext >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002 + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
  }
  f.brand = brand;
  while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* cpu_isa_name() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16) return "avx512-bf16";
  if (f.avx512f && f.avx512bw && f.avx512vl) return "avx512";
  if (f.avx2 && f.fma) return "avx2";
  return "scalar";
}

}  // namespace da3
