// See sim3.hpp. The closed-form fit is core/sim3.cpp's; this file makes it robust.
#include "pipeline/stream/sim3.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "da3/error.hpp"

namespace da3::stream {

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
