#pragma once
// Mirrors depth_anything_3/model/gs_adapter.py (GaussianAdapter): the GS head's per-pixel raw
// channels + the predicted depth and cameras -> world-space 3D Gaussians (the reference's
// specs.Gaussians): means on the pixel rays (optionally offset in depth and within the pixel),
// scales relative to depth and pixel footprint, camera-space quaternions turned to world space,
// SH colour coefficients masked and rotated to world space, opacities passed through.
#include "da3/config.hpp"
#include "da3/tensor.hpp"

namespace da3::model {

struct Gaussians {
  Tensor means;      // (B, S·H·W, 3) world space
  Tensor scales;     // (B, S·H·W, 3)
  Tensor rotations;  // (B, S·H·W, 4): the reference calls them world_quat_wxyz; see gs_adapter.cpp
  Tensor harmonics;  // (B, S·H·W, 3, d_sh) world space
  Tensor opacities;  // (B, S·H·W)
};

class GaussianAdapter {
 public:
  GaussianAdapter() = default;
  explicit GaussianAdapter(const GsAdapterConfig& cfg);

  // extrinsics (B, S, 3|4, 4) world-to-camera and intrinsics (B, S, 3, 3) in pixels: the
  // network's predicted cameras (the depth lives in their frame); depths, opacities (B, S, H, W);
  // raw (B, S, H, W, d_in). gt_extrinsics (B, S, 4, 4), when given and different from the
  // predicted ones, rescales depth and camera positions by the Umeyama scale between the two
  // sets of camera centres (clamped to [1/3, 3]).
  Gaussians forward(const Tensor& extrinsics, const Tensor& intrinsics, const Tensor& depths, const Tensor& opacities,
                    const Tensor& raw, const Tensor& gt_extrinsics = {}) const;

  const GsAdapterConfig& config() const { return cfg_; }

 private:
  GsAdapterConfig cfg_;
};

// geometry.py map_pdf_to_opacity at global step 0 (exponent 1): 0.5 · (1 - (1 - p) + p).
Tensor map_pdf_to_opacity(const Tensor& pdf);

// The scale of utils/pose_align.py align_poses_umeyama (evo's Umeyama Sim(3) of the camera
// centres of est onto ref, both (S, 3|4, 4) world-to-camera), or 1 where the reference's
// alignment raises (fewer than 2 singular values of the covariance above eps: one view, or all
// centres in one point), before the adapter's clamp. For two views or collinear centres the
// second singular value is rounding noise that numpy finds above eps in practice, and so does
// our eigenvalue route: both align.
double umeyama_pose_scale(const Tensor& ext_ref, const Tensor& ext_est);

}  // namespace da3::model
