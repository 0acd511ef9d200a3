#pragma once
// Similarity transforms y = s R x + t between the frames of two stream windows, and their robust
// estimation from corresponding 3-D points (and, optionally, corresponding camera rotations).
//
// The closed form is Umeyama's (1991, "Least-squares estimation of transformation parameters
// between two point patterns") with per-point weights; robustness comes from a least-median-of-
// squares draw over minimal 3-point samples (no inlier threshold to tune: the scale of the
// noise is estimated from the data) followed by iteratively reweighted least squares with
// Cauchy weights, and a final refit on the inliers alone. Everything in double precision.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/sim3.hpp"

namespace da3::stream {

// The closed-form pieces live in core/sim3.hpp; named here too, as stream:: code and tests spell them.
using da3::Mat3;
using da3::RotationPair;
using da3::Sim3;
using da3::umeyama_weighted;
using da3::Vec3;
using da3::mat3_apply;
using da3::mat3_det;
using da3::mat3_identity;
using da3::mat3_mul;
using da3::mat3_transpose;
using da3::rotation_angle_between;
using da3::rotation_from_axis_angle;

// A 3x4 world-to-camera [Rc | tc] (row-major, 12 values) re-expressed after the world is moved
// by `T` (X' = T(X)): [Rc Rᵀ | s tc - Rc Rᵀ t]. Depths along the camera's rays scale by T.s.
std::array<double, 12> transform_world_to_camera(const std::array<double, 12>& w2c, const Sim3& T);
// Camera centre -Rcᵀ tc of a 3x4 world-to-camera.
Vec3 camera_centre(const std::array<double, 12>& w2c);

struct RobustSim3Options {
  int samples = 256;         // minimal 3-point samples drawn for the least-median stage
  int irls_iterations = 20;  // reweighting rounds after it
  double cauchy_c = 2.5;     // Cauchy constant, in units of the robust residual scale
  // Weight of each camera rotation pair relative to the mean point weight times the points'
  // spread (so that its influence does not depend on the scene's units).
  double rotation_weight = 1.0;
  uint64_t seed = 0;
};

struct RobustSim3Result {
  Sim3 T;
  double residual_scale = 0;  // per-axis σ of the inliers' residuals, in target units
  size_t inliers = 0;         // points with residual below 4σ
  size_t points = 0;
};

// Estimates y ≈ T(x) from correspondences in which a good part (up to ~45 %) may be gross
// outliers. `w` are prior weights (e.g. depth confidence), ≥ 0. Throws da3::Error naming
// `what` when fewer than 3 usable points or only degenerate configurations are given.
RobustSim3Result estimate_sim3_robust(const std::vector<Vec3>& x, const std::vector<Vec3>& y,
                                      const std::vector<double>& w, const RobustSim3Options& options = {},
                                      const std::vector<RotationPair>& rotations = {}, const char* what = "Sim(3)");

}  // namespace da3::stream
