#pragma once
// Work counters for benchmarks: ops add the floating-point operations they perform (2 per
// multiply-add), so `da3 bench model` can report achieved GFLOP/s from what actually ran.
#include <cstdint>

namespace da3 {

void count_flops(uint64_t flops);
uint64_t flops_counted();
void reset_flop_counter();
// Peak resident set size of this process so far, in bytes.
uint64_t peak_rss_bytes();

}  // namespace da3
