// Picks the CPU flash-attention variant from CPUID, once.
#include "kernels/cpu/attention_flash.hpp"

#include "da3/cpu.hpp"
#include "da3/error.hpp"

namespace da3::kernels {

const char* flash_cpu_isa_name(FlashCpuIsa isa) {
  switch (isa) {
    case FlashCpuIsa::Scalar: return "scalar";
    case FlashCpuIsa::Avx2: return "avx2";
    case FlashCpuIsa::Avx512: return "avx512";
    case FlashCpuIsa::Avx512Bf16: return "avx512-bf16";
    case FlashCpuIsa::Amx: return "amx";
  }
  return "?";
}

bool flash_cpu_isa_supported(FlashCpuIsa isa) {
  const CpuFeatures& f = cpu_features();
  const bool avx512 = f.avx512f && f.avx512bw && f.avx512vl && f.fma && f.f16c;
  switch (isa) {
    case FlashCpuIsa::Scalar: return true;
    case FlashCpuIsa::Avx2: return f.avx2 && f.fma && f.f16c;
    case FlashCpuIsa::Avx512: return avx512;
    case FlashCpuIsa::Avx512Bf16: return avx512 && f.avx512_bf16;
    case FlashCpuIsa::Amx: return avx512 && f.avx512_bf16 && f.amx_usable;  // falls back to Avx512Bf16
  }
  return false;
}

FlashCpuIsa best_flash_cpu_isa() {
  static const FlashCpuIsa best = [] {
    for (FlashCpuIsa isa : {FlashCpuIsa::Amx, FlashCpuIsa::Avx512Bf16, FlashCpuIsa::Avx512, FlashCpuIsa::Avx2})
      if (flash_cpu_isa_supported(isa)) return isa;
    return FlashCpuIsa::Scalar;
  }();
  return best;
}

size_t attention_flash_cpu(const AttentionProblem& p, FlashCpuIsa isa, FlashCpuTiling tiling) {
  DA3_CHECK(flash_cpu_isa_supported(isa), std::string("attention: flash_attn CPU variant '") +
                                              flash_cpu_isa_name(isa) + "' needs instructions this CPU lacks");
  switch (isa) {
    case FlashCpuIsa::Scalar: return attention_flash_scalar(p, tiling);
    case FlashCpuIsa::Avx2: return attention_flash_avx2(p, tiling);
    case FlashCpuIsa::Avx512: return attention_flash_avx512(p, tiling);
    case FlashCpuIsa::Avx512Bf16: return attention_flash_avx512bf16(p, tiling);
    case FlashCpuIsa::Amx: return attention_flash_amx(p, tiling);
  }
  return 0;
}

size_t attention_flash_cpu(const AttentionProblem& p) { return attention_flash_cpu(p, best_flash_cpu_isa()); }

}  // namespace da3::kernels
