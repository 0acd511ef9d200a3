#pragma once
// The CUDA side of the attention entry point (src/attention/attention_cuda.cpp, built only
// when nvcc is found; attention.cpp calls these only under DA3_WITH_CUDA).
#include <string>
#include <vector>

#include "da3/attention.hpp"
#include "kernels/cpu/attention_problem.hpp"

namespace da3::attn {

// True when our CUDA flash kernel serves the current device at this head dim and precision.
bool cuda_flash_available(int64_t head_dim, AttentionPrecision precision, std::string* why);

// Runs `backend` for tensors on the GPU. `p` has sizes, scale, mask and threads filled in; the
// operand pointers are set here.
void run_cuda(AttentionBackend backend, AttentionPrecision precision, const Tensor& q, const Tensor& k,
              const Tensor& v, Tensor& out, AttentionLayout layout, kernels::AttentionProblem& p,
              AttentionStats& stats);

// QK-norm and 2-D RoPE on a CUDA x (argument checks done by the callers in qk_norm.cpp and
// rope.cpp). rope: cos_t / sin_t are the host tables (max_pos + 1, D / 4) built by rope.cpp.
void qk_layer_norm_cuda(Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
void rope_2d_cuda(Tensor& x, const Tensor& positions, AttentionLayout layout, const std::vector<float>& cos_t,
                  const std::vector<float>& sin_t);

// Which CUDA flash kernel the calls that follow use: "auto", "fa2", "sm90" or "sm90:<tile>"
// (kernels/cuda/attention_flash_sm90_select.hpp; the tiles are kSm90Tiles, e.g. "sm90:128x176x2").
// "" goes back to the environment's choice: DA3_CUDA_FLASH_KERNEL=auto|fa2|sm90 and
// DA3_CUDA_FLASH_SM90_TILE=<tile> (read once; an unknown value is a warning and means auto /
// the default tile). auto is fa2 until the sm90 kernel has passed its tests on a GPU. Throws
// da3::Error on an unknown spec. For the benchmark's sweep and the tests; process-wide.
void set_cuda_flash_kernel(const std::string& spec);
std::string cuda_flash_kernel_spec();  // the spec in force, e.g. "sm90:128x128x2" or "auto"

// An uninitialised contiguous tensor in GPU memory (freed with the last reference).
Tensor cuda_empty(const Shape& shape, DType dtype);

// A contiguous copy of `src` on device `to` (CPU <-> CUDA), synchronous. For tests and the
// benchmark until the core Tensor learns devices.
Tensor cuda_copy(const Tensor& src, Device to);

}  // namespace da3::attn
