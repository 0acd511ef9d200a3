// AVX-512-BF16 entry of the CPU flash-attention kernel. For now it runs the AVX-512 fp32 body
// (which rounds q, k, v and P to bf16 when p.compute is BF16); a vdpbf16ps micro-kernel is future
// work (docs/attention.md). Kept as its own dispatch row so that kernel drops in here.
#include "kernels/cpu/attention_flash.hpp"

namespace da3::kernels {

size_t attention_flash_avx512bf16(const AttentionProblem& p, FlashCpuTiling tiling) {
  return attention_flash_avx512(p, tiling);
}

}  // namespace da3::kernels
