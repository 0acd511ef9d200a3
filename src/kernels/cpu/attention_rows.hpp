#pragma once
// Row conversions shared by the CPU attention kernels: one head-dim row between its storage
// dtype (f32 / bf16 / f16) and fp32, and rounding to the compute type.
//
// Defined out of line in a file compiled without ISA flags on purpose: an inline function in a
// header included by per-ISA files could be compiled with AVX-512 there, and the linker may keep
// that copy for every caller.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "da3/dtype.hpp"
#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels {

// dst[0..n) = src row as fp32.
void load_row_f32(const void* src, DType dtype, int64_t n, float* dst);
// dst row = src[0..n) converted to `dtype` (round to nearest even).
void store_row_f32(const float* src, DType dtype, int64_t n, void* dst);
// x[0..n) rounded to the nearest value representable in `ct` (no-op for F32).
void round_row(float* x, int64_t n, ComputeType ct);

// Pointer to element (b, n, h, 0) of an operand / output. `static`: internal linkage, so a copy
// compiled with AVX-512 flags can never be the one a generic caller links to.
static inline const void* row_ptr(const AttnOperand& o, int64_t b, int64_t n, int64_t h) {
  return static_cast<const char*>(o.data) + (b * o.sb + n * o.sn + h * o.sh) * static_cast<int64_t>(dtype_size(o.dtype));
}
static inline void* row_ptr(const AttnOutput& o, int64_t b, int64_t n, int64_t h) {
  return static_cast<char*>(o.data) + (b * o.sb + n * o.sn + h * o.sh) * static_cast<int64_t>(dtype_size(o.dtype));
}

// Asks for row (b, n, h) of an operand (head_dim elements) ahead of its use. The kernels read K,
// V and Q rows strided (heads·D apart in the qkv buffer), one row per step: the hardware
// prefetcher does not run ahead of such a walk, and each row's first lines missed (perf, fp32
// kernel: ~9 % of its time in the row copies). Kernels ask for the row kPrefetchRows ahead.
constexpr int64_t kPrefetchRows = 8;
template <class Operand>  // AttnOperand (read) or AttnOutput (to be written: fetched for writing)
static inline void prefetch_row(const Operand& o, int64_t b, int64_t n, int64_t h, int64_t head_dim) {
  constexpr int kWrite = std::is_same_v<Operand, AttnOutput> ? 1 : 0;
  const char* c = static_cast<const char*>(row_ptr(o, b, n, h));
  const int64_t bytes = head_dim * static_cast<int64_t>(dtype_size(o.dtype));
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, kWrite);
}
// For a block of `rows` query rows at q0 (block size bq): the next block's Q rows (usually the
// same thread's next task, whose rows are then in cache when it starts) and this block's output
// rows, written at its end.
static inline void prefetch_block_rows(const AttentionProblem& p, int64_t b, int64_t h, int64_t q0, int64_t rows,
                                       int64_t bq) {
  for (int64_t r = q0 + bq; r < std::min(p.nq, q0 + 2 * bq); ++r) prefetch_row(p.q, b, r, h, p.head_dim);
  for (int64_t r = q0; r < q0 + rows; ++r) prefetch_row(p.out, b, r, h, p.head_dim);
}

}  // namespace da3::kernels
