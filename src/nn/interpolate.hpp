#pragma once
// F.interpolate for NCHW f32 tensors, with torch's coordinate conventions.
#include <optional>

#include "da3/tensor.hpp"

namespace da3::nn {

// mode="bicubic" (A = -0.75, borders clamped), align_corners=False. When scale factors are given
// (as the ViT's pos-embed interpolation does) torch maps coordinates with 1/scale rather than
// in/out size; pass them to reproduce that exactly.
Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w,
                           std::optional<double> scale_h = std::nullopt, std::optional<double> scale_w = std::nullopt);

// mode="bilinear".
Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);

}  // namespace da3::nn
