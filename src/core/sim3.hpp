#pragma once
// 3x3 matrices, similarity transforms y = s R x + t, and their closed-form least-squares fit to
// corresponding points (Umeyama 1991, "Least-squares estimation of transformation parameters
// between two point patterns"), in double precision. One implementation for every user: the
// alignment of outputs to input poses (pipeline/pose_alignment), of stream windows to each other
// (pipeline/stream/sim3) and the GS adapter's trajectory scale (model/gs_adapter).
#include <array>
#include <optional>
#include <vector>

namespace da3 {

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

// Weighted Umeyama: the Sim(3) minimising Σ w_i |y_i - (s R x_i + t)|² (+ the rotation term
// below). `rotations` (optional) are pairs (Qx_j, Qy_j) of rotations known to correspond, e.g.
// one camera's world-to-camera rotation in both frames, for which R ≈ Qy_jᵀ Qx_j; each adds
// rotation_weights[j] * tr(Rᵀ Qy_jᵀ Qx_j) to the maximised trace, i.e. pulls R towards that
// rotation, without affecting s and t given R. Returns false (and leaves `out`) when the
// weighted points are degenerate (total weight 0, all points at one place, or a rank below 2
// with no rotation term to fix the rest: second singular value ≤ 1e-6 of the first).
struct RotationPair {
  Mat3 from, to;  // world-to-camera rotations of one camera in the source and in the target frame
};
bool umeyama_weighted(const std::vector<Vec3>& x, const std::vector<Vec3>& y, const std::vector<double>& w,
                      Sim3& out, const std::vector<RotationPair>& rotations = {},
                      const std::vector<double>& rotation_weights = {});

// The reference's fit, evo's umeyama_alignment(x, y, with_scale=True): unweighted, and empty
// exactly where evo raises "Degenerate covariance rank" (fewer than 2 singular values of the
// cross-covariance above machine epsilon: < 3 points, collinear, or all x at one place).
std::optional<Sim3> umeyama_evo(const std::vector<Vec3>& x, const std::vector<Vec3>& y);

}  // namespace da3
