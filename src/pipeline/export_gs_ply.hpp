#pragma once
// The reference's `gs_ply` export (utils/export/gs.py export_to_gs_ply -> utils/gsply_helpers.py
// save_gaussian_ply with its fixed arguments): the world-space Gaussians of Prediction::gs_*
// as a 3DGS-style binary PLY, the layout splat viewers read.
#include <string>

#include "da3/model.hpp"

namespace da3::pipeline {

// p: a prediction with infer_gs (gs_* and depth (1, N, H, W)). Keeps, per view, the pixels off
// the border (int(8/256 · H) rows and int(8/256 · W) columns on each side) whose depth is at
// most the view's 0.9 quantile, in view then row-major order, and writes per Gaussian the
// float properties x y z, nx ny nz (0), f_dc_0..2 (the DC coefficients only), opacity (inverse
// sigmoid), scale_0..2 (log), rot_0..3 (as stored). Written atomically.
void export_gs_ply(const Prediction& p, const std::string& path);

// The same Gaussians (same pruning) as a `.splat` file, the compact layout web splat viewers
// load: 32 bytes per Gaussian, largest volume × opacity first: float32 x, y, z; float32 scales
// (exp of the log scales); uint8 r, g, b = (0.5 + C0 · DC) · 255 and a = sigmoid(opacity) · 255;
// uint8 rot_0..3 of the unit quaternion as q · 128 + 128 (all clamped to [0, 255], truncated).
// Gaussians with a non-finite value are left out. Written atomically.
void export_gs_splat(const Prediction& p, const std::string& path);

}  // namespace da3::pipeline
