#pragma once
// The ray-based pose path (use_ray_pose): DepthAnything3Net._process_ray_pose_estimation and
// utils/ray_utils.py (get_extrinsic_from_camray -> camray_to_caminfo ->
// compute_optimal_rotation_intrinsics_batch). Per view, a weighted RANSAC homography maps the
// image plane onto the predicted ray directions; its QL factors are the rotation and the
// intrinsics, and the confidence-weighted mean ray origin is the camera centre.
// docs/ray_pose.md says where this differs from the reference (the RNG) and why.
#include <cstdint>
#include <vector>

#include "da3/tensor.hpp"

namespace da3::model {

// Where RANSAC hypotheses come from. The reference draws them with torch.randperm on the global
// RNG, which no C++ code can replay; by default we draw them from our own seeded generator
// (deterministic, documented), and tests inject the reference's draw.
struct RansacSamples {
  // (num_hypotheses, sample_size) int64 indices into the most confident
  // get_params_for_ransac(h * w).n_sample points, shared by every view, as the reference's
  // `rand_sample_iters_idx`; undefined = draw 100 x 8 from `seed`.
  Tensor sample_idx;
  // Seeds our generator. It draws the hypotheses (when sample_idx is undefined) and, for a view
  // whose best hypothesis has more than 8000 inliers, the 8000 used for the final fit (the
  // reference draws those with torch.randperm too).
  uint64_t seed = 0;
};

// ray (B, S, h, w, 6) [direction xyz, origin xyz] and ray_conf (B, S, h, w) from the DualDPT aux
// branch (f32, CPU), input image size H x W -> extrinsics (B, S, 3, 4) world-to-camera and
// intrinsics (B, S, 3, 3) in pixels, both f32. Throws da3::Error on bad shapes and when a
// view's rays fit no camera (fewer than 4 RANSAC inliers, where the reference raises too).
void pose_from_rays(const Tensor& ray, const Tensor& ray_conf, int64_t H, int64_t W, const RansacSamples& samples,
                    Tensor& extrinsics, Tensor& intrinsics);

namespace ray {

// One view's camera as camray_to_caminfo finds it, before the conversion to w2c / pixels; kept
// apart so tests can compare the steps.
struct ViewCamera {
  double homography[9];     // the refitted RANSAC homography, sign-flipped to det > 0, row-major
  double rotation[9];       // Q of its QL decomposition: camera-to-world rotation
  double translation[3];    // confidence-weighted mean ray origin: camera centre
  double focal[2];          // 1 / diag(L) (L normalised to L[2][2] = 1): focal length, image = 2 units
  double principal[2];      // L[2][0..1] + 1: principal point, image = 2 units
  int64_t best_hypothesis;  // row of the sample indices whose inlier set won
  int64_t num_inliers;
};

// camray_to_caminfo for all B*S views in order (b-major). `ray`/`conf` as pose_from_rays.
std::vector<ViewCamera> camray_to_caminfo(const Tensor& ray, const Tensor& ray_conf, const RansacSamples& samples);

}  // namespace ray

}  // namespace da3::model
