// See sim3.hpp. The algebra, written out:
//   weighted means      μx = Σ w x / W,  μy = Σ w y / W
//   spread              σx² = Σ w |x - μx|² / W
//   cross-covariance    Σ = Σ w (y - μy)(x - μx)ᵀ / W
// R maximises tr(Rᵀ M) over rotations, M = Σ (+ Σ_j λ_j Qy_jᵀ Qx_j). With M = U D Vᵀ,
// R = U diag(1, 1, ±1) Vᵀ, the sign making det R = +1. Given R, the least-squares scale is
// s = tr(Rᵀ Σ) / σx² and t = μy - s R μx.
#include "pipeline/stream/sim3.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "da3/error.hpp"

namespace da3::stream {

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

std::array<double, 12> transform_world_to_camera(const std::array<double, 12>& w2c, const Sim3& T) {
  // X_cam = Rc X_old + tc and X_old = T⁻¹(X_new) = Rᵀ (X_new - t) / s; in the new units the
  // camera coordinates are s times larger: s X_cam = Rc Rᵀ X_new + (s tc - Rc Rᵀ t).
  const Mat3 Rc = {w2c[0], w2c[1], w2c[2], w2c[4], w2c[5], w2c[6], w2c[8], w2c[9], w2c[10]};
  const Mat3 Rn = mat3_mul(Rc, mat3_transpose(T.R));
  const Vec3 Rt = mat3_apply(Rn, T.t);
  std::array<double, 12> out{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) out[i * 4 + j] = Rn[i * 3 + j];
    out[i * 4 + 3] = T.s * w2c[i * 4 + 3] - Rt[i];
  }
  return out;
}

Vec3 camera_centre(const std::array<double, 12>& w2c) {
  Vec3 c{};
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 3; ++i) c[j] -= w2c[i * 4 + j] * w2c[i * 4 + 3];
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
// determined). From MᵀM = V D² Vᵀ: u0 = M v0 / d0, u1 = M v1 / d1, and w = u0 × u1 completes a
// right-handed U' = [u0 u1 w], in which M = U' diag(d0, d1, d2') Vᵀ with d2' = w·M v2 possibly
// negative. R = U' diag(1, 1, det V) Vᵀ is then a rotation (det = det V² = 1) and the best one.
bool best_rotation(const Mat3& M, Mat3& R) {
  Vec3 ev;
  Mat3 V;
  symmetric_eigen(mat3_mul(mat3_transpose(M), M), ev, V);
  const double d0 = std::sqrt(std::max(ev[0], 0.0)), d1 = std::sqrt(std::max(ev[1], 0.0));
  if (!(d0 > 0) || d1 <= 1e-6 * d0) return false;  // MᵀM squares the condition: 1e-6 is rounding level
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

double squared_distance(const Vec3& a, const Vec3& b) {
  return (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
}

// The median of `v` (reordered).
double median_of(std::vector<double>& v) {
  const size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m), v.end());
  return v[m];
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
  if (!best_rotation(M, R)) return false;
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

RobustSim3Result estimate_sim3_robust(const std::vector<Vec3>& x_all, const std::vector<Vec3>& y_all,
                                      const std::vector<double>& w_all, const RobustSim3Options& o,
                                      const std::vector<RotationPair>& rotations, const char* what) {
  DA3_CHECK(x_all.size() == y_all.size() && x_all.size() == w_all.size(),
            std::string(what) + ": the point sets and weights differ in size");
  // Usable points only: finite coordinates and a positive finite weight.
  std::vector<Vec3> x, y;
  std::vector<double> w;
  for (size_t i = 0; i < x_all.size(); ++i) {
    bool ok = w_all[i] > 0 && std::isfinite(w_all[i]);
    for (int c = 0; c < 3 && ok; ++c) ok = std::isfinite(x_all[i][c]) && std::isfinite(y_all[i][c]);
    if (!ok) continue;
    x.push_back(x_all[i]);
    y.push_back(y_all[i]);
    w.push_back(w_all[i]);
  }
  const size_t n = x.size();
  if (n < 3)
    throw Error(std::string(what) + ": " + std::to_string(n) +
                " usable corresponding points (finite, positive weight); at least 3 are needed");

  std::vector<double> r2(n);
  auto residuals = [&](const Sim3& T) {
    for (size_t i = 0; i < n; ++i) r2[i] = squared_distance(T.apply(x[i]), y[i]);
  };
  std::vector<double> scratch(n);
  auto median_r2 = [&] {
    scratch = r2;
    return median_of(scratch);
  };

  // Stage 1, least median of squares: the hypothesis whose median squared residual is smallest
  // over minimal samples (and the plain weighted fit). Breaks down only past 50 % outliers.
  Sim3 best;
  double best_med = std::numeric_limits<double>::infinity();
  if (Sim3 T; umeyama_weighted(x, y, w, T)) {
    residuals(T);
    best_med = median_r2();
    best = T;
  }
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  const std::vector<double> ones(3, 1.0);
  for (int k = 0; k < o.samples; ++k) {
    const size_t a = pick(rng), b = pick(rng), c = pick(rng);
    if (a == b || b == c || a == c) continue;
    Sim3 T;
    if (!umeyama_weighted({x[a], x[b], x[c]}, {y[a], y[b], y[c]}, ones, T)) continue;  // collinear
    residuals(T);
    const double med = median_r2();
    if (med < best_med) best_med = med, best = T;
  }
  if (!std::isfinite(best_med))
    throw Error(std::string(what) + ": the corresponding points are degenerate (all on one line or at one place)");

  // Stage 2, IRLS: Cauchy weights w_i / (1 + (r_i / (c σ))²), σ re-estimated each round from
  // the median absolute residual (1.4826 MAD, the Gaussian-consistent scale), so the loop needs
  // no threshold in scene units. Rotation pairs, if any, get Cauchy weights on their angle.
  const double kAngleScale = 5.0 * M_PI / 180;
  Sim3 T = best;
  double sigma = 1.4826 * std::sqrt(best_med);
  double spread = 0;  // the points' weighted spread σx σy, to put rotation terms in the same units
  double var_y = 0;   // σy², to measure translation changes against
  {
    double W = 0, vx = 0, vy = 0;
    Vec3 mx{}, my{};
    for (size_t i = 0; i < n; ++i) {
      W += w[i];
      for (int c = 0; c < 3; ++c) mx[c] += w[i] * x[i][c], my[c] += w[i] * y[i][c];
    }
    for (int c = 0; c < 3; ++c) mx[c] /= W, my[c] /= W;
    for (size_t i = 0; i < n; ++i) vx += w[i] * squared_distance(x[i], mx), vy += w[i] * squared_distance(y[i], my);
    spread = std::sqrt(vx / W) * std::sqrt(vy / W);
    var_y = vy / W;
  }
  std::vector<double> iw(n), rw(rotations.size());
  for (int it = 0; it < o.irls_iterations; ++it) {
    residuals(T);
    scratch.resize(n);
    for (size_t i = 0; i < n; ++i) scratch[i] = std::sqrt(r2[i]);
    const double mad = 1.4826 * median_of(scratch);
    if (mad > 0) sigma = mad;
    if (!(sigma > 0)) break;  // an exact fit: nothing left to reweight
    const double cs2 = (o.cauchy_c * sigma) * (o.cauchy_c * sigma);
    for (size_t i = 0; i < n; ++i) iw[i] = w[i] / (1 + r2[i] / cs2);
    for (size_t j = 0; j < rotations.size(); ++j) {
      // Residual angle of pair j: R against Qyᵀ Qx.
      const Mat3 q = mat3_mul(mat3_transpose(rotations[j].to), rotations[j].from);
      const double ang = rotation_angle_between(T.R, q);
      // Each pair weighs rotation_weight / m of the points' term, which amounts to about
      // σx σy (= tr(Rᵀ Σ) when the points agree; Σ is normalised by the weights' sum).
      rw[j] = o.rotation_weight / double(rotations.size()) * spread /
              (1 + (ang / kAngleScale) * (ang / kAngleScale));
    }
    Sim3 next;
    if (!umeyama_weighted(x, y, iw, next, rotations, rw)) break;
    // Relative change of the transform: scale, angle, and translation over the points' spread.
    const double change = std::fabs(next.s / T.s - 1) + rotation_angle_between(next.R, T.R) +
                          std::sqrt(squared_distance(next.t, T.t) / var_y);
    T = next;
    if (change < 1e-10) break;
  }

  // Stage 3, inlier refit: Cauchy weights never reach zero, so the outliers still pull a
  // little (uniform outliers bias the scale by ~0.5 % at 30 %). Refit on the inliers alone
  // with the prior weights, the noise scale now taken from the inliers themselves: per-axis
  // σ² = Σ r² / (3 n), inliers r < 4 σ (χ²₃ keeps 99.9 % of Gaussian inliers there).
  residuals(T);
  double sigma_axis = sigma / 1.4826 / 1.538;  // MAD of a 3-D Gaussian residual ≈ 1.538 σ
  size_t inliers = 0;
  std::vector<double> fw(n);
  for (int it = 0; it < 8; ++it) {
    const double gate = 16 * sigma_axis * sigma_axis;
    double sum_r2 = 0;
    inliers = 0;
    for (size_t i = 0; i < n; ++i) {
      const bool in = r2[i] <= gate;
      fw[i] = in ? w[i] : 0;
      if (in) sum_r2 += r2[i], ++inliers;
    }
    if (inliers < 3) break;
    for (size_t j = 0; j < rotations.size(); ++j) {
      const Mat3 q = mat3_mul(mat3_transpose(rotations[j].to), rotations[j].from);
      const double ang = rotation_angle_between(T.R, q);
      rw[j] = o.rotation_weight / double(rotations.size()) * spread / (1 + (ang / kAngleScale) * (ang / kAngleScale));
    }
    Sim3 next;
    if (!umeyama_weighted(x, y, fw, next, rotations, rw)) break;
    T = next;
    residuals(T);
    double in_r2 = 0;
    size_t in_n = 0;
    for (size_t i = 0; i < n; ++i)
      if (fw[i] > 0) in_r2 += r2[i], ++in_n;
    const double next_sigma = std::sqrt(in_r2 / (3.0 * double(in_n)));
    if (!(next_sigma > 0)) break;  // exact
    const bool settled = std::fabs(next_sigma / sigma_axis - 1) < 1e-6;
    sigma_axis = next_sigma;
    if (settled) break;
  }

  RobustSim3Result res;
  res.T = T;
  res.points = n;
  res.residual_scale = sigma_axis;
  residuals(T);
  for (size_t i = 0; i < n; ++i) res.inliers += r2[i] <= 16 * sigma_axis * sigma_axis;
  return res;
}

}  // namespace da3::stream
