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

namespace da3::stream {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  // row-major

Mat3 mat3_identity();
Mat3 mat3_mul(const Mat3& a, const Mat3& b);
Mat3 mat3_transpose(const Mat3& a);
double mat3_det(const Mat3& a);
Vec3 mat3_apply(const Mat3& a, const Vec3& v);
// Angle of the rotation a * bᵀ, in radians.
double rotation_angle_between(const Mat3& a, const Mat3& b);
// Rotation about `axis` (need not be unit) by `angle` radians (Rodrigues).
Mat3 rotation_from_axis_angle(const Vec3& axis, double angle);

struct Sim3 {
  double s = 1;
  Mat3 R = mat3_identity();
  Vec3 t{};

  Vec3 apply(const Vec3& x) const;
  Sim3 inverse() const;
  // (a * b)(x) = a(b(x)).
  friend Sim3 operator*(const Sim3& a, const Sim3& b);
};

// A 3x4 world-to-camera [Rc | tc] (row-major, 12 values) re-expressed after the world is moved
// by `T` (X' = T(X)): [Rc Rᵀ | s tc - Rc Rᵀ t]. Depths along the camera's rays scale by T.s.
std::array<double, 12> transform_world_to_camera(const std::array<double, 12>& w2c, const Sim3& T);
// Camera centre -Rcᵀ tc of a 3x4 world-to-camera.
Vec3 camera_centre(const std::array<double, 12>& w2c);

// Weighted Umeyama: the Sim(3) minimising Σ w_i |y_i - (s R x_i + t)|² (+ the rotation term
// below). `rotations` (optional) are pairs (Qx_j, Qy_j) of rotations known to correspond, e.g.
// one camera's world-to-camera rotation in both frames, for which R ≈ Qy_jᵀ Qx_j; each adds
// rotation_weights[j] * tr(Rᵀ Qy_jᵀ Qx_j) to the maximised trace, i.e. pulls R towards that
// rotation, without affecting s and t given R. Returns false (and leaves `out`) when the
// weighted points are degenerate (total weight 0, all points at one place, or a rank below 2
// with no rotation term to fix the rest).
struct RotationPair {
  Mat3 from, to;  // world-to-camera rotations of one camera in the source and in the target frame
};
bool umeyama_weighted(const std::vector<Vec3>& x, const std::vector<Vec3>& y, const std::vector<double>& w,
                      Sim3& out, const std::vector<RotationPair>& rotations = {},
                      const std::vector<double>& rotation_weights = {});

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
