#pragma once
// Backbone features to colours (feat_vis), as the reference's PCARGBVisualizer with
// basis_mode="fixed", percentile_mode="global": one PCA basis (the 3 leading principal
// directions of all tokens of all views) and one percentile range per channel for the whole
// set, so a colour means the same in every view and every frame.
#include "da3/tensor.hpp"

namespace da3::pipeline {

// features (T, h, w, C) f32 -> (T, h, w, 3) u8: projections on the 3 leading principal
// directions, clipped to their [clip, 100 - clip] percentiles and scaled to 0..255 (truncated, as
// the reference's astype(uint8)). The directions come from a seeded subspace iteration: the
// same features give the same colours; a direction's sign is fixed by its largest component.
Tensor pca_rgb(const Tensor& features, float clip_percent = 10.f);

}  // namespace da3::pipeline
