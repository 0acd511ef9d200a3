#pragma once
// ISA-specific bodies of the dtype conversions; callers go through da3/dtype.hpp, which picks
// one from CPUID. Each is compiled with its own target flags (see CMakeLists.txt).
#include <cstddef>
#include <cstdint>

namespace da3::detail {

void f32_to_bf16_avx512(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void f32_to_f16_avx512(const float* src, uint16_t* dst, size_t n);
void f16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);

}  // namespace da3::detail
