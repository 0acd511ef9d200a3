#include "kernels/cpu/attention_rows.hpp"

#include <cstring>

namespace da3::kernels {

void load_row_f32(const void* src, DType dtype, int64_t n, float* dst) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::BF16: bf16_to_f32(static_cast<const uint16_t*>(src), dst, static_cast<size_t>(n)); return;
    case DType::F16: f16_to_f32(static_cast<const uint16_t*>(src), dst, static_cast<size_t>(n)); return;
    default: break;
  }
  // The entry point validates dtypes; reaching here is a bug in a caller.
  std::memset(dst, 0xff, static_cast<size_t>(n) * 4);  // NaN: loud in any test
}

void store_row_f32(const float* src, DType dtype, int64_t n, void* dst) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::BF16: f32_to_bf16(src, static_cast<uint16_t*>(dst), static_cast<size_t>(n)); return;
    case DType::F16: f32_to_f16(src, static_cast<uint16_t*>(dst), static_cast<size_t>(n)); return;
    default: return;
  }
}

void round_row(float* x, int64_t n, ComputeType ct) {
  if (ct == ComputeType::BF16) {
    for (int64_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
  } else if (ct == ComputeType::F16) {
    for (int64_t i = 0; i < n; ++i) x[i] = f16_to_f32(f32_to_f16(x[i]));
  }
}

}  // namespace da3::kernels
