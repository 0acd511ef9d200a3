#pragma once
// Work counters for benchmarks: ops add the floating-point operations they perform (2 per
// multiply-add), so `da3 bench model` can report achieved GFLOP/s from what actually ran.
#include <cstdint>

namespace da3 {

void count_flops(uint64_t flops);
uint64_t flops_counted();
void reset_flop_counter();
// Tensor storage: bytes held by live tensors now, the most held at once since the last reset, and
// freed blocks kept for reuse (see src/core/host_memory.hpp).
uint64_t tensor_bytes_live();
uint64_t tensor_bytes_peak();
void reset_tensor_bytes_peak();
uint64_t tensor_cache_bytes();
// Peak resident set size of this program so far (since its execve), in bytes.
uint64_t peak_rss_bytes();

}  // namespace da3
