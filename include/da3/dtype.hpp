#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace da3 {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, U8, Bool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "bf16", ...
bool dtype_is_float(DType t);

enum class Device : uint8_t { CPU, CUDA };
const char* device_name(Device d);

// Exact conversions with round-to-nearest-even; NaN stays NaN (quiet), infinities are kept.
// The array versions are vectorised (AVX-512 where the CPU has it).
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t x);
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t x);

void f32_to_bf16(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32(const uint16_t* src, float* dst, size_t n);
void f32_to_f16(const float* src, uint16_t* dst, size_t n);
void f16_to_f32(const uint16_t* src, float* dst, size_t n);

}  // namespace da3
