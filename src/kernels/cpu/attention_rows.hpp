#pragma once
// Row conversions shared by the CPU attention kernels: one head-dim row between its storage
// dtype (f32 / bf16 / f16) and fp32, and rounding to the compute type.
//
// Defined out of line in a file compiled without ISA flags on purpose: an inline function in a
// header included by per-ISA files could be compiled with AVX-512 there, and the linker may keep
// that copy for every caller.
#include <cstdint>

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

}  // namespace da3::kernels
