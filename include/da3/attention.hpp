#pragma once
// Attention: one entry point for every attention layer, served by interchangeable backends.
//
//   out = softmax(q · kᵀ · scale + mask) · v        per batch b and head h
//
// Backends (see docs/attention.md):
//   flash_attn  tiled, online softmax, never materialises the N×N score matrix
//               (CPU: our AVX2 / AVX-512 kernels; CUDA: our tensor-core kernel, cc >= 7.5)
//   sdpa        query blocks × all keys through GEMM (oneDNN on CPU, cuBLAS on CUDA), fp32 softmax;
//               the only fused path that takes a mask
//   manual      the full score matrix in plain loops: slow, obviously right, the debugging oracle
//
// Which backend runs, highest priority first:
//   1. AttentionOptions::backend (per call)
//   2. AttentionOptions::model_backend (the model's own setting)
//   3. env DA3_ATTENTION_BACKEND = flash_attn | sdpa | manual | auto (case-insensitive; anything
//      else is one warning naming the valid values, and the automatic choice is kept)
//   4. automatic: flash_attn where a flash kernel exists for the device, else sdpa
// then the fallbacks: a mask on flash_attn runs sdpa; flash_attn where the device has no flash
// kernel runs sdpa. Each fallback is said once in the log.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "da3/tensor.hpp"

namespace da3 {

enum class AttentionBackend : uint8_t { Auto, FlashAttn, Sdpa, Manual };

// "auto", "flash_attn", "sdpa", "manual".
const char* attention_backend_name(AttentionBackend b);
// Parses a backend name, case-insensitive, surrounding blanks ignored; nullopt if unknown.
std::optional<AttentionBackend> parse_attention_backend(std::string_view name);

// Where each of q, k, v (and the output) keeps the token and head axes. Strides decide the
// rest: any 4-D view whose last (head-dim) stride is 1 is used without a copy.
enum class AttentionLayout : uint8_t {
  BNHD,  // (batch, tokens, heads, head_dim): what a qkv Linear produces; the flash convention
  BHND,  // (batch, heads, tokens, head_dim): what the reference's permute produces
};

// What the products are computed in. Accumulation, the running max / sum and the softmax are
// fp32 in every case. Auto: fp32 on CPU; on CUDA flash_attn bf16 (fp16 where the GPU lacks bf16).
// Only flash_attn honours BF16 / F16 (it rounds q, k, v and the probabilities to that type);
// sdpa and manual always compute in fp32.
enum class AttentionPrecision : uint8_t { Auto, F32, BF16, F16 };
const char* attention_precision_name(AttentionPrecision p);  // "auto", "f32", "bf16", "f16"

// What one call did, for benchmarks and tests (optional output, see AttentionOptions::stats).
struct AttentionStats {
  AttentionBackend backend = AttentionBackend::Auto;        // the backend that ran
  AttentionPrecision precision = AttentionPrecision::Auto;  // the precision it computed in
  std::string kernel;         // e.g. "flash_attn/cpu-avx2-f32", "sdpa/cpu-onednn"
  size_t scratch_bytes = 0;   // working memory the backend allocated (all threads together)
};

struct AttentionOptions {
  AttentionLayout layout = AttentionLayout::BNHD;
  // Multiplies q·kᵀ; nullopt means head_dim^-0.5.
  std::optional<float> scale;
  // Optional mask added to the scores: f32 (additive; -inf blocks a key) or bool (true =
  // attend, as torch's SDPA). Shape (B or 1, Nq, Nk) or (B or 1, H or 1, Nq, Nk).
  Tensor mask;
  AttentionBackend backend = AttentionBackend::Auto;        // per call (wins over all else)
  AttentionBackend model_backend = AttentionBackend::Auto;  // per model (wins over the env)
  AttentionPrecision precision = AttentionPrecision::Auto;
  AttentionStats* stats = nullptr;  // when set, filled in by the call
};

// q: (B, Nq, H, D) for BNHD or (B, H, Nq, D) for BHND; k, v: the same with Nk tokens. q, k, v
// share dtype (f32, bf16 or f16) and device. Returns a new contiguous tensor in q's layout and
// dtype. Throws da3::Error on any mismatch, naming the tensor and what was expected.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts = {});
// Same, writing into `out` (q's shape, any float dtype, any strides with head-dim stride 1),
// e.g. a view on the buffer the output projection reads.
void attention_into(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                    const AttentionOptions& opts = {});

// The backend a call with these options would run on `device` (all rules above applied).
AttentionBackend resolve_attention_backend(Device device, const AttentionOptions& opts = {},
                                           int64_t head_dim = 64);

// The device attention runs on by default: CUDA when this build has it and a GPU is present.
Device default_attention_device();
// True when a flash kernel exists for the device: CUDA with compute capability >= 7.5, or a CPU
// with AVX2+FMA or AVX-512 (where ours is faster than sdpa). No argument: the default device.
bool flash_attn_available(Device device);
bool flash_attn_available();
// The backend chosen now for an unmasked call with no per-call / per-model option: the
// automatic choice, or the env override. No argument: the default device.
AttentionBackend attention_backend(Device device);
AttentionBackend attention_backend();
// The CPU flash kernel variant this machine runs: "avx512-bf16", "avx512", "avx2" or "scalar".
const char* flash_attn_cpu_isa();

// ---- Around attention: applied to q and k before the backend, as the reference does -----------

// 2D rotary position embedding (reference: dinov2/layers/rope.py, RotaryPositionEmbedding2D):
// the head dim is split into a y half and an x half; each half is rotated ("rotate half") by
// angles pos * base^(-2i/(D/2)). x: 4-D in `layout`, f32 / bf16 / f16, modified in place (it may
// be a view, e.g. on the qkv buffer). positions: int64 or int32, (N, 2) shared by the batch or
// (B, N, 2), holding (y, x) per token. D must be a multiple of 4.
void rope_2d_inplace(Tensor& x, const Tensor& positions, AttentionLayout layout, float base = 100.f);

// Token positions as the reference's VisionTransformer._prepare_rope builds them, as int64 (N, 2)
// with N = num_special + grid_h * grid_w:
//   nodiff = false ("pos", local attention): special tokens (0, 0), patches (y, x), shifted to
//                  (y + 1, x + 1) when num_special > 0
//   nodiff = true ("pos_nodiff", global attention): special tokens (0, 0), every patch (1, 1)
//                  when num_special > 0, else all (0, 0)
Tensor rope_positions(int64_t grid_h, int64_t grid_w, int64_t num_special, bool nodiff = false);

// LayerNorm over the head dim of every (token, head) of x (the reference's q_norm / k_norm),
// in place. weight and bias: f32 (D) (either may be undefined: 1 / 0). x as for rope_2d_inplace.
void qk_layer_norm_inplace(Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

}  // namespace da3
