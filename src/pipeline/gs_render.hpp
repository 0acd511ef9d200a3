#pragma once
// A CPU rasterizer for 3D Gaussians (the preview behind `-f gs_video`), written from the 3DGS
// paper (Kerbl et al. 2023, "3D Gaussian Splatting for Real-Time Radiance Field Rendering") and
// EWA splatting (Zwicker et al. 2001): each Gaussian's covariance projected through the
// perspective Jacobian, view-dependent colour from its spherical harmonics (degree ≤ 2), and
// front-to-back alpha compositing per pixel, tile by tile. It follows what the reference's
// renderer (gsplat's `rasterization`, CUDA) computes where that is documented: the quaternion
// read as (w, x, y, z) from the stored 4 values, a 0.3 px² low-pass added to every 2-D
// covariance, α = min(0.999, opacity · G), fragments below 1/255 skipped, a pixel finished at
// transmittance 1e-4, near plane 0.01, black background.
#include <array>
#include <cstdint>
#include <vector>

#include "da3/tensor.hpp"

namespace da3::pipeline {

// A pinhole camera: world-to-camera [R | t] (row-major) and intrinsics in pixels of a
// width x height image.
struct GsCamera {
  std::array<double, 9> R{1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::array<double, 3> t{};
  double fx = 1, fy = 1, cx = 0, cy = 0;
  int width = 0, height = 0;
};

// The Gaussians as Prediction::gs_* / InferenceResult::gs_* hold them (batch dimension 1):
// means (1, G, 3), scales (1, G, 3) standard deviations, rotations (1, G, 4), harmonics
// (1, G, 3, d_sh) with d_sh = 1, 4 or 9, opacities (1, G) in [0, 1].
struct GaussianSet {
  Tensor means, scales, rotations, harmonics, opacities;
};

// Renders one view: width * height * 3 bytes, RGB, row-major (colours clamped to [0, 1]).
std::vector<uint8_t> render_gaussians(const GaussianSet& g, const GsCamera& cam);

// A preview path through the input cameras (world-to-camera (N, 3, 4), intrinsics (N, 3, 3) in
// pixels of width x height): with 2+ views, from each camera to the next with an eased
// interpolation (rotations by slerp, centres and intrinsics linearly), `frames_per_step` frames
// each; with one view, a small circle of the camera centre ("wander", 36 frames) whose radius
// is 5 % of `scene_depth`, looking the same way.
std::vector<GsCamera> preview_trajectory(const Tensor& extrinsics, const Tensor& intrinsics, int width, int height,
                                         double scene_depth, int frames_per_step = 24);

}  // namespace da3::pipeline
