#pragma once
// Matplotlib's "Spectral" colormap (ColorBrewer's 11-class Spectral, linearly interpolated into
// 256 entries) as the reference's visualize_depth uses it: cm(x) with x in [0, 1], then
// (rgb * 255) truncated to uint8.
#include <array>
#include <cstdint>

namespace da3::pipeline {

// 256 RGB entries, already as the uint8 values visualize_depth produces.
const std::array<std::array<uint8_t, 3>, 256>& spectral_table_u8();

// Matplotlib's index for a float32 value: trunc(x * 256), with x == 1 mapped to 255.
// x must be clipped to [0, 1] (NaN: returns -1, matplotlib's "bad" colour, black).
int spectral_index(float x);

}  // namespace da3::pipeline
