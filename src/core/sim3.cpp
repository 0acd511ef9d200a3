// See sim3.hpp. The algebra, written out:
//   weighted means      μx = Σ w x / W,  μy = Σ w y / W
//   spread              σx² = Σ w |x - μx|² / W
//   cross-covariance    Σ = Σ w (y - μy)(x - μx)ᵀ / W
// R maximises tr(Rᵀ M) over rotations, M = Σ (+ Σ_j λ_j Qy_jᵀ Qx_j). With M = U D Vᵀ,
// R = U diag(1, 1, ±1) Vᵀ, the sign making det R = +1. Given R, the least-squares scale is
// s = tr(Rᵀ Σ) / σx² and t = μy - s R μx.
#include "core/sim3.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "da3/error.hpp"

namespace da3 {

Mat3 mat3_identity() { return {1, 0, 0, 0, 1, 0, 0, 0, 1}; }

Mat3 mat3_mul(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}

Mat3 mat3_transpose(const Mat3& a) { return {a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]}; }

double mat3_det(const Mat3& a) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

Vec3 mat3_apply(const Mat3& a, const Vec3& v) {
  return {a[0] * v[0] + a[1] * v[1] + a[2] * v[2], a[3] * v[0] + a[4] * v[1] + a[5] * v[2],
          a[6] * v[0] + a[7] * v[1] + a[8] * v[2]};
}

double rotation_angle_between(const Mat3& a, const Mat3& b) {
  // ||a - b||_F = ||a bᵀ - I||_F = 2√2 sin(θ/2): accurate for small angles, where
  // acos((tr - 1) / 2) loses half the digits (float32 rotations would read as 0.01°).
  double f2 = 0;
  for (int k = 0; k < 9; ++k) f2 += (a[k] - b[k]) * (a[k] - b[k]);
  return 2 * std::asin(std::min(1.0, std::sqrt(f2) / (2 * std::sqrt(2.0))));
}

Mat3 rotation_from_axis_angle(const Vec3& axis, double angle) {
  const double n = std::sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  if (n == 0) return mat3_identity();
  const double x = axis[0] / n, y = axis[1] / n, z = axis[2] / n;
  const double c = std::cos(angle), s = std::sin(angle), C = 1 - c;
  return {c + x * x * C,     x * y * C - z * s, x * z * C + y * s,  //
          y * x * C + z * s, c + y * y * C,     y * z * C - x * s,  //
          z * x * C - y * s, z * y * C + x * s, c + z * z * C};
}

Vec3 Sim3::apply(const Vec3& x) const {
  const Vec3 r = mat3_apply(R, x);
  return {s * r[0] + t[0], s * r[1] + t[1], s * r[2] + t[2]};
}

Sim3 Sim3::inverse() const {
  // x = Rᵀ (y - t) / s
  Sim3 inv;
  inv.s = 1 / s;
  inv.R = mat3_transpose(R);
  const Vec3 rt = mat3_apply(inv.R, t);
  inv.t = {-rt[0] / s, -rt[1] / s, -rt[2] / s};
  return inv;
}

Sim3 operator*(const Sim3& a, const Sim3& b) {
  Sim3 c;
  c.s = a.s * b.s;
  c.R = mat3_mul(a.R, b.R);
  c.t = a.apply(b.t);
  return c;
}

namespace {

// Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations: eigenvalues in
// descending order, eigenvectors the columns of V (an orthogonal matrix, det ±1).
void symmetric_eigen(Mat3 a, Vec3& values, Mat3& V) {
  V = mat3_identity();
  for (int sweep = 0; sweep < 64; ++sweep) {
    const double off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    const double diag = a[0] * a[0] + a[4] * a[4] + a[8] * a[8];
    if (off == 0 || off < 1e-32 * diag) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        const double apq = a[p * 3 + q];
        if (apq == 0) continue;
        // The rotation angle that zeroes a[p][q]: tan(2φ) = 2 a_pq / (a_qq - a_pp), smaller root.
        const double theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * apq);
        const double tn = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(tn * tn + 1), s = tn * c;
        for (int k = 0; k < 3; ++k) {
          const double akp = a[k * 3 + p], akq = a[k * 3 + q];
          a[k * 3 + p] = c * akp - s * akq;
          a[k * 3 + q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; ++k) {
          const double apk = a[p * 3 + k], aqk = a[q * 3 + k];
          a[p * 3 + k] = c * apk - s * aqk;
          a[q * 3 + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; ++k) {
          const double vkp = V[k * 3 + p], vkq = V[k * 3 + q];
          V[k * 3 + p] = c * vkp - s * vkq;
          V[k * 3 + q] = s * vkp + c * vkq;
        }
      }
  }
  int order[3] = {0, 1, 2};
  std::sort(order, order + 3, [&](int i, int j) { return a[i * 4] > a[j * 4]; });
  Mat3 sorted{};
  for (int c = 0; c < 3; ++c) {
    values[c] = a[order[c] * 4];
    for (int r = 0; r < 3; ++r) sorted[r * 3 + c] = V[r * 3 + order[c]];
  }
  V = sorted;
}

// The rotation maximising tr(Rᵀ M); false when M has rank < 2 (the rotation is then not
// determined): its second singular value d1 ≤ max(abs_tol, rel_tol d0). From MᵀM = V D² Vᵀ: u0 = M v0 / d0, u1 = M v1 / d1, and w = u0 × u1 completes a
// right-handed U' = [u0 u1 w], in which M = U' diag(d0, d1, d2') Vᵀ with d2' = w·M v2 possibly
// negative. R = U' diag(1, 1, det V) Vᵀ is then a rotation (det = det V² = 1) and the best one.
bool best_rotation(const Mat3& M, Mat3& R, double rel_tol, double abs_tol) {
  Vec3 ev;
  Mat3 V;
  symmetric_eigen(mat3_mul(mat3_transpose(M), M), ev, V);
  const double d0 = std::sqrt(std::max(ev[0], 0.0)), d1 = std::sqrt(std::max(ev[1], 0.0));
  if (!(d0 > abs_tol) || d1 <= std::max(abs_tol, rel_tol * d0)) return false;
  Vec3 u[3];
  for (int c = 0; c < 2; ++c) {
    const Vec3 v = {V[c], V[3 + c], V[6 + c]};
    const Vec3 mv = mat3_apply(M, v);
    const double d = c == 0 ? d0 : d1;
    u[c] = {mv[0] / d, mv[1] / d, mv[2] / d};
  }
  // Re-orthogonalise u1 against u0 (rounding), then w = u0 × u1.
  const double dot = u[0][0] * u[1][0] + u[0][1] * u[1][1] + u[0][2] * u[1][2];
  for (int i = 0; i < 3; ++i) u[1][i] -= dot * u[0][i];
  const double n1 = std::sqrt(u[1][0] * u[1][0] + u[1][1] * u[1][1] + u[1][2] * u[1][2]);
  if (!(n1 > 0)) return false;
  for (int i = 0; i < 3; ++i) u[1][i] /= n1;
  u[2] = {u[0][1] * u[1][2] - u[0][2] * u[1][1], u[0][2] * u[1][0] - u[0][0] * u[1][2],
          u[0][0] * u[1][1] - u[0][1] * u[1][0]};
  const double sign = mat3_det(V) < 0 ? -1 : 1;
  R = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      R[i * 3 + j] = u[0][i] * V[j * 3 + 0] + u[1][i] * V[j * 3 + 1] + sign * u[2][i] * V[j * 3 + 2];
  return true;
}

}  // namespace

bool umeyama_weighted(const std::vector<Vec3>& x, const std::vector<Vec3>& y, const std::vector<double>& w,
                      Sim3& out, const std::vector<RotationPair>& rotations,
                      const std::vector<double>& rotation_weights) {
  DA3_CHECK(x.size() == y.size() && x.size() == w.size(), "umeyama_weighted: x, y and w differ in size");
  DA3_CHECK(rotation_weights.size() == rotations.size(), "umeyama_weighted: one weight per rotation pair needed");
  double W = 0;
  Vec3 mx{}, my{};
  for (size_t i = 0; i < x.size(); ++i) {
    W += w[i];
    for (int c = 0; c < 3; ++c) mx[c] += w[i] * x[i][c], my[c] += w[i] * y[i][c];
  }
  if (!(W > 0)) return false;
  for (int c = 0; c < 3; ++c) mx[c] /= W, my[c] /= W;
  double var_x = 0;
  Mat3 cov{};
  for (size_t i = 0; i < x.size(); ++i) {
    if (w[i] == 0) continue;
    const Vec3 dx = {x[i][0] - mx[0], x[i][1] - mx[1], x[i][2] - mx[2]};
    const Vec3 dy = {y[i][0] - my[0], y[i][1] - my[1], y[i][2] - my[2]};
    var_x += w[i] * (dx[0] * dx[0] + dx[1] * dx[1] + dx[2] * dx[2]);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) cov[a * 3 + b] += w[i] * dy[a] * dx[b];
  }
  var_x /= W;
  for (double& v : cov) v /= W;
  if (!(var_x > 0)) return false;
  Mat3 M = cov;
  for (size_t j = 0; j < rotations.size(); ++j) {
    const Mat3 q = mat3_mul(mat3_transpose(rotations[j].to), rotations[j].from);  // R ≈ Qyᵀ Qx
    for (int k = 0; k < 9; ++k) M[k] += rotation_weights[j] * q[k];
  }
  Mat3 R;
  if (!best_rotation(M, R, 1e-6, 0)) return false;  // MᵀM squares the condition: 1e-6 is rounding level
  double tr = 0;  // tr(Rᵀ Σ)
  for (int k = 0; k < 9; ++k) tr += R[k] * cov[k];
  const double s = tr / var_x;
  if (!(s > 0) || !std::isfinite(s)) return false;
  out.s = s;
  out.R = R;
  const Vec3 rm = mat3_apply(R, mx);
  out.t = {my[0] - s * rm[0], my[1] - s * rm[1], my[2] - s * rm[2]};
  return true;
}

std::optional<Sim3> umeyama_evo(const std::vector<Vec3>& x, const std::vector<Vec3>& y) {
  const size_t n = x.size();
  DA3_CHECK(n == y.size(), "umeyama_evo: the two point sets differ in size");
  if (n == 0) return std::nullopt;
  Vec3 mx{}, my{};
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) mx[c] += x[i][c] / double(n), my[c] += y[i][c] / double(n);
  double var_x = 0;
  Mat3 cov{};
  for (size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      var_x += (x[i][a] - mx[a]) * (x[i][a] - mx[a]) / double(n);
      for (int b = 0; b < 3; ++b) cov[a * 3 + b] += (y[i][a] - my[a]) * (x[i][b] - mx[b]) / double(n);
    }
  // evo: rank = count of singular values > eps; below 2 it raises. The scale it then computes,
  // tr(D S) / σx², is tr(Rᵀ Σ) / σx² with the same R.
  Mat3 R;
  if (!(var_x > 0) || !best_rotation(cov, R, 0, std::numeric_limits<double>::epsilon())) return std::nullopt;
  double tr = 0;
  for (int k = 0; k < 9; ++k) tr += R[k] * cov[k];
  Sim3 out;
  out.s = tr / var_x;
  out.R = R;
  const Vec3 rm = mat3_apply(R, mx);
  out.t = {my[0] - out.s * rm[0], my[1] - out.s * rm[1], my[2] - out.s * rm[2]};
  return out;
}

}  // namespace da3
