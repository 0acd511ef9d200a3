#pragma once
// Bicubic resizing as the reference actually gets it. The reference calls cv2.resize(...,
// INTER_CUBIC) from the opencv-python wheel, which on x86-64 hands the call to Intel IPP;
// IPP computes the separable Catmull-Rom (a = -0.75) filter in float32 (rows first, no
// rounding between the passes, edge pixels replicated). Debian's OpenCV has no IPP and uses
// 11-bit fixed-point weights instead, which differs by one level on ~1-3 % of the values
// (two levels after two cubic passes). This reproduces the IPP result: on the fixtures it
// differs from the reference on fewer than 1 value in 100 000 (rounding ties), by one level.
#include <opencv2/core.hpp>

namespace da3::pipeline {

// src: CV_8UC3, continuous. Returns a width x height CV_8UC3 image.
cv::Mat resize_cubic(const cv::Mat& src, int width, int height);

}  // namespace da3::pipeline
