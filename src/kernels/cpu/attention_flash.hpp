#pragma once
// CPU flash attention: tiled (query block × key block), online softmax with the running max and
// sum in fp32, never the N×N score matrix. One body (attention_flash_body.hpp) compiled per ISA,
// plus a plain C++ variant for CPUs without AVX2; the variant is picked once from CPUID.
#include <cstddef>

#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels {

enum class FlashCpuIsa : uint8_t { Scalar, Avx2, Avx512, Avx512Bf16, Amx };
const char* flash_cpu_isa_name(FlashCpuIsa isa);  // "scalar", "avx2", "avx512", "avx512-bf16", "amx"

// The fastest variant this CPU can run (read from CPUID once).
FlashCpuIsa best_flash_cpu_isa();
bool flash_cpu_isa_supported(FlashCpuIsa isa);

// Block shape: a query block is `strips` micro-tiles of the ISA's rows; a key block is `block_k`
// keys (rounded up to the micro-tile width). Zero means the ISA's default.
struct FlashCpuTiling {
  int strips = 0;
  int block_k = 0;
};

// Runs `p` with variant `isa` (which must be supported: see flash_cpu_isa_supported). Returns the
// scratch bytes it allocated. The Avx512Bf16 variant only differs from Avx512 when p.compute is
// BF16 (it then uses vdpbf16ps); the Amx variant only differs from Avx512Bf16 when p.compute is
// BF16 and the head dim a multiple of 32 (it then runs both products on AMX tiles).
size_t attention_flash_cpu(const AttentionProblem& p, FlashCpuIsa isa, FlashCpuTiling tiling = {});
size_t attention_flash_cpu(const AttentionProblem& p);  // best_flash_cpu_isa()

// Per-ISA entry points (each in its own file, compiled with that ISA's flags).
size_t attention_flash_scalar(const AttentionProblem& p, FlashCpuTiling tiling);
size_t attention_flash_avx2(const AttentionProblem& p, FlashCpuTiling tiling);
size_t attention_flash_avx512(const AttentionProblem& p, FlashCpuTiling tiling);
size_t attention_flash_avx512bf16(const AttentionProblem& p, FlashCpuTiling tiling);
size_t attention_flash_amx(const AttentionProblem& p, FlashCpuTiling tiling);

}  // namespace da3::kernels
