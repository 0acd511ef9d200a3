#pragma once
// Bicubic resizing as the reference actually gets it. The reference calls cv2.resize(...,
// INTER_CUBIC) from the opencv-python wheel, which on x86-64 hands the call to Intel IPP;
// IPP computes the separable Catmull-Rom (a = -0.75) filter in float32 (rows first, no
// rounding between the passes, edge pixels replicated). Debian's OpenCV has no IPP and uses
// 11-bit fixed-point weights instead, which differs by one level on ~1-3 % of the values
// (two levels after two cubic passes). This reproduces the IPP result: on the fixtures it
// differs from the reference on fewer than 1 value in 100 000 (rounding ties), by one level.
#include "io/image_buffer.hpp"

namespace da3::pipeline {

// src: 3 channels (8-bit). Returns a width x height image of 3 channels.
io::ImageBuffer resize_cubic(const io::ImageView& src, int width, int height);

}  // namespace da3::pipeline
