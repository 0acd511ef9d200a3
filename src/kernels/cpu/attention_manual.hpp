#pragma once
#include <cstddef>

#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels {

// The manual backend on CPU: the full score matrix per head (O(Nq·Nk) memory per thread).
// Honours the mask; always fp32. Returns the scratch bytes it allocated.
size_t attention_manual_cpu(const AttentionProblem& p);

}  // namespace da3::kernels
