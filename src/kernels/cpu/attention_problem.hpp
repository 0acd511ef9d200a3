#pragma once
// A batched attention problem as raw pointers and element strides: what every attention kernel,
// CPU or CUDA, receives. Kernels know nothing of Tensor, layouts or models; the entry point
// (src/attention/attention.cpp) turns tensors into this.
#include <cstddef>
#include <cstdint>

#include "da3/dtype.hpp"

namespace da3::kernels {

// What the two products are computed in (accumulation is always fp32).
enum class ComputeType : uint8_t { F32, BF16, F16 };

// Element (b, n, h, d) of an operand lives at data + b*sb + n*sn + h*sh + d: the head dim is
// always contiguous, everything else is a stride, so (B,N,H,D) and (B,H,N,D) are the same thing.
struct AttnOperand {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t sb = 0, sn = 0, sh = 0;
};

struct AttnOutput {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t sb = 0, sn = 0, sh = 0;
};

// Additive f32 mask or bool mask (true = attend). Element (b, h, i, j) at
// data + b*sb + h*sh + i*si + j; a stride of 0 broadcasts over that axis.
struct AttnMask {
  const void* data = nullptr;  // nullptr: no mask
  DType dtype = DType::F32;
  int64_t sb = 0, sh = 0, si = 0;
};

struct AttentionProblem {
  int64_t batch = 0, heads = 0, nq = 0, nk = 0, head_dim = 0;
  AttnOperand q, k, v;
  AttnOutput out;
  AttnMask mask;
  float scale = 1.f;
  ComputeType compute = ComputeType::F32;
  int threads = 1;
};

}  // namespace da3::kernels
