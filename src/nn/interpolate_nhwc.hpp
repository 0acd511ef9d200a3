#pragma once
// F.interpolate(mode="bilinear") on NHWC f32 tensors, with torch's coordinate conventions (the
// same as interpolate_bilinear for NCHW). The DPT heads upsample channels-last feature maps
// with it, so no layout conversion is needed around the resize.
#include "da3/tensor.hpp"

namespace da3::nn {

// x: (N, H, W, C) contiguous -> (N, out_h, out_w, C).
Tensor interpolate_bilinear_nhwc(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);

}  // namespace da3::nn
