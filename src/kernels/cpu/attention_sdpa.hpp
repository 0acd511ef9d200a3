#pragma once
#include <cstddef>

#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels {

// The sdpa backend on CPU: per (batch, head, block of query rows), S = q·kᵀ·scale through a
// oneDNN matmul, + mask, oneDNN softmax (fp32), out = P·v through a second matmul. Scratch is
// one block × Nk score matrix per thread. Requires f32 q, k, v and output (the entry point
// converts others). Returns the scratch bytes it allocated.
size_t attention_sdpa_cpu(const AttentionProblem& p);

}  // namespace da3::kernels
