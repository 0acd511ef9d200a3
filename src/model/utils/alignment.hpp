#pragma once
// Mirrors depth_anything_3/utils/alignment.py and the sky / metric steps of model/da3.py.
//
// Deterministic where the reference samples at random: the reference takes quantiles over a
// random subsample of 100 000 values when there are more; we always use every value (exact).
// Below 100 000 values the two are identical.
#include <vector>

#include "da3/tensor.hpp"

namespace da3::model {

// torch.quantile(values, q) with linear interpolation (values are copied and sorted).
float quantile_linear(std::vector<float> values, float q);

// a ≈ s·b in the least-squares sense: dot(a, b) / max(dot(b, b), eps).
float least_squares_scale(const std::vector<float>& a, const std::vector<float>& b, double eps = 1e-12);

// DepthAnything3Net._process_mono_sky_estimation: sky pixels (sky >= 0.3) of `depth` set to the
// 0.99 quantile of the non-sky depth, when both regions have more than 10 pixels. In place.
void mono_sky_fill(Tensor& depth, const Tensor& sky);

// NestedDepthAnything3Net: metric branch scaling, scale alignment, sky handling. Modifies depth,
// depth_conf and the translation of extrinsics (B, S, 3|4, 4) in place; returns the scale factor.
float nested_align(Tensor& depth, Tensor& depth_conf, Tensor& extrinsics, const Tensor& intrinsics,
                   Tensor metric_depth, const Tensor& metric_sky);

}  // namespace da3::model
