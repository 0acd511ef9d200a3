#pragma once
// CUDA attention kernels (built only when nvcc is found). Every pointer in the problem is a
// device pointer; the calls are asynchronous on `stream` unless stated otherwise.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/cpu/attention_problem.hpp"

typedef struct CUstream_st* cudaStream_t;

namespace da3::kernels::cuda {

// Head dims the flash kernel is instantiated for (every DA3 size uses 64).
bool flash_head_dim_supported(int64_t head_dim);

// FlashAttention-2-style kernel: one CTA of 4 warps per 64 query rows of one (batch, head);
// 64-key blocks of K and V staged in shared memory; S = Q·Kᵀ and O += P·V on tensor cores
// (mma.sync m16n8k16; two m16n8k8 on sm_75); online softmax on the accumulator registers.
// p.compute: BF16 (sm_80+) or F16. q, k, v: f32, bf16 or f16 (converted while staging); out: f32,
// bf16 or f16. No mask. Requires compute capability >= 7.5 and a supported head dim.
void attention_flash(const AttentionProblem& p, cudaStream_t stream);

// The Hopper kernel (attention_flash_sm90.cu, compiled for sm_90a only): wgmma, TMA, a producer
// warpgroup and 2-3 consumer warpgroups. COMPILED, NEVER RUN on a GPU yet; used only when
// DA3_CUDA_FLASH_KERNEL=sm90 (attention_flash_sm90_select.hpp). Head dim 64; q, k and v in the
// compute type (bf16 / f16) with strides TMA can describe (sm90_tma_geometry); out in any float
// dtype; no mask; `tile` indexes kSm90Tiles. Returns false with `why` when it could not launch
// (no driver entry point for tensor maps, a tensor map the driver refused): nothing was queued,
// and the caller runs attention_flash instead.
bool attention_flash_sm90(const AttentionProblem& p, int tile, cudaStream_t stream, std::string* why);

// sdpa: per batch and block of query rows, S = q·kᵀ·scale (cublasSgemmStridedBatched over the
// heads), + mask, row softmax, out = P·v (a second batched GEMM). fp32: q, k, v and out must be
// f32 here (the caller converts). `workspace` holds the block's scores: see sdpa_workspace_bytes.
size_t sdpa_workspace_bytes(const AttentionProblem& p);
void attention_sdpa(const AttentionProblem& p, float* workspace, cudaStream_t stream);

// manual: the whole score matrix (B·H·Nq·Nk floats in `workspace`, see manual_workspace_bytes),
// one thread per score, per row softmax, one thread per output element. Any float dtypes; fp32.
size_t manual_workspace_bytes(const AttentionProblem& p);
void attention_manual(const AttentionProblem& p, float* workspace, cudaStream_t stream);

// dst (contiguous, `dst_dtype`) = src (4-D with the given sizes and element strides, `src_dtype`).
void convert_4d(const void* src, DType src_dtype, const int64_t sizes[4], const int64_t strides[4], void* dst,
                DType dst_dtype, cudaStream_t stream);

}  // namespace da3::kernels::cuda
