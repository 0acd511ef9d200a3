#pragma once
// F.interpolate(mode="bilinear") on NHWC f32 tensors, with torch's coordinate conventions (the
// same as interpolate_bilinear for NCHW). The DPT heads upsample channels-last feature maps
// with it, so no layout conversion is needed around the resize.
#include "da3/tensor.hpp"

namespace da3::nn {

// x: (N, H, W, C) contiguous -> (N, out_h, out_w, C).
Tensor interpolate_bilinear_nhwc(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);

// Output rows [row0, row0 + band.size(1)) of the same resize, written into band (N, R, out_w, C),
// contiguous. Rows outside [0, out_h) are set to zero: they are the padding of a convolution that
// reads the band (see Conv2d::forward_band).
void interpolate_bilinear_nhwc_rows(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners, int64_t row0,
                                    Tensor& band);

}  // namespace da3::nn
