#pragma once
// F.interpolate(mode="bilinear") on NHWC f32 tensors, with torch's coordinate conventions (the
// same as interpolate_bilinear for NCHW). The DPT heads upsample channels-last feature maps
// with it, so no layout conversion is needed around the resize.
#include <utility>

#include "da3/tensor.hpp"

namespace da3::nn {

// x: (N, H, W, C) contiguous -> (N, out_h, out_w, C).
Tensor interpolate_bilinear_nhwc(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);

// Output rows [row0, row0 + band.size(1)) of the same resize, written into band (N, R, out_w, C),
// contiguous. Rows outside [0, out_h) are set to zero: they are the padding of a convolution that
// reads the band (see Conv2d::forward_band).
void interpolate_bilinear_nhwc_rows(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners, int64_t row0,
                                    Tensor& band);

// The same from `slab`, which holds only input rows [slab_row0, slab_row0 + slab.size(1)) of a
// map of in_h rows: a caller that makes its input a few rows at a time (the DPT heads' output
// tail) never holds that map whole. The slab must cover bilinear_input_rows(...) of the band.
void interpolate_bilinear_nhwc_rows(const Tensor& slab, int64_t slab_row0, int64_t in_h, int64_t out_h, int64_t out_w,
                                    bool align_corners, int64_t row0, Tensor& band);

// The first and last input rows (inclusive) that output rows [row0, row0 + rows) of an in_h ->
// out_h resize read; output rows outside [0, out_h) read nothing. {0, -1} when no row is read.
std::pair<int64_t, int64_t> bilinear_input_rows(int64_t in_h, int64_t out_h, bool align_corners, int64_t row0,
                                                int64_t rows);

}  // namespace da3::nn
