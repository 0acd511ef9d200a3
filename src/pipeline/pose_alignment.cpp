#include "pipeline/pose_alignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "da3/error.hpp"
#include "pipeline/percentile.hpp"

namespace da3::pipeline {

namespace {

using M3 = std::array<double, 9>;

M3 mul(const M3& a, const M3& b) {
  M3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}
M3 transpose(const M3& a) {
  return {a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]};
}
double det(const M3& a) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

// Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations: values (descending)
// and vectors as the columns of V.
void jacobi_eigen(M3 a, std::array<double, 3>& values, M3& V) {
  V = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  for (int sweep = 0; sweep < 60; ++sweep) {
    const double off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    if (off < 1e-30 * (a[0] * a[0] + a[4] * a[4] + a[8] * a[8]) || off == 0) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        const double apq = a[p * 3 + q];
        if (apq == 0) continue;
        const double theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 3; ++k) {  // a = Jᵀ a J
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
  std::array<int, 3> order = {0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int i, int j) { return a[i * 4] > a[j * 4]; });
  M3 sorted{};
  for (int c = 0; c < 3; ++c) {
    values[c] = a[order[c] * 4];
    for (int r = 0; r < 3; ++r) sorted[r * 3 + c] = V[r * 3 + order[c]];
  }
  V = sorted;
}

// A = U diag(d) Vᵀ with d descending, U and V orthogonal.
void svd3(const M3& A, M3& U, std::array<double, 3>& d, M3& V) {
  std::array<double, 3> ev;
  jacobi_eigen(mul(transpose(A), A), ev, V);
  for (int i = 0; i < 3; ++i) d[i] = std::sqrt(std::max(ev[i], 0.0));
  const M3 AV = mul(A, V);
  U = {};
  for (int c = 0; c < 3; ++c) {
    double n = 0;
    for (int r = 0; r < 3; ++r) n += AV[r * 3 + c] * AV[r * 3 + c];
    n = std::sqrt(n);
    if (n > 1e-300 && d[c] > 1e-12 * std::max(d[0], 1e-300)) {
      for (int r = 0; r < 3; ++r) U[r * 3 + c] = AV[r * 3 + c] / n;
    } else if (c == 2) {  // complete a right-handed basis from the first two columns
      U[2] = U[3] * U[7] - U[6] * U[4];
      U[5] = U[6] * U[1] - U[0] * U[7];
      U[8] = U[0] * U[4] - U[3] * U[1];
    } else {  // rank 1: any unit vector orthogonal to the first column (the caller refuses rank < 2)
      const int axis = std::fabs(U[0]) < 0.5 ? 0 : std::fabs(U[3]) < 0.5 ? 1 : 2;
      double e[3] = {0, 0, 0};
      e[axis] = 1;
      const double dot = U[0] * e[0] + U[3] * e[1] + U[6] * e[2];
      double len = 0;
      for (int r = 0; r < 3; ++r) len += (e[r] - dot * U[r * 3]) * (e[r] - dot * U[r * 3]);
      for (int r = 0; r < 3; ++r) U[r * 3 + 1] = (e[r] - dot * U[r * 3]) / std::sqrt(len);
    }
  }
}

Vec3 apply(const Sim3& m, const Vec3& p) {
  Vec3 q;
  for (int i = 0; i < 3; ++i) q[i] = m.s * (m.R[i * 3] * p[0] + m.R[i * 3 + 1] * p[1] + m.R[i * 3 + 2] * p[2]) + m.t[i];
  return q;
}

double dist(const Vec3& a, const Vec3& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

}  // namespace

Sim3 umeyama(const std::vector<Vec3>& x, const std::vector<Vec3>& y) {
  const size_t n = x.size();
  DA3_CHECK(n == y.size() && n > 0, "pose alignment: the two sets of camera centres differ in size");
  Vec3 mx{}, my{};
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) mx[c] += x[i][c] / n, my[c] += y[i][c] / n;
  double sigma = 0;
  M3 cov{};
  for (size_t i = 0; i < n; ++i) {
    for (int a = 0; a < 3; ++a) {
      sigma += (x[i][a] - mx[a]) * (x[i][a] - mx[a]);
      for (int b = 0; b < 3; ++b) cov[a * 3 + b] += (y[i][a] - my[a]) * (x[i][b] - mx[b]);
    }
  }
  sigma /= n;
  for (double& v : cov) v /= n;
  M3 U, V;
  std::array<double, 3> d;
  svd3(cov, U, d, V);
  const int rank = (d[0] > std::numeric_limits<double>::epsilon()) + (d[1] > std::numeric_limits<double>::epsilon()) +
                   (d[2] > std::numeric_limits<double>::epsilon());
  if (rank < 2)
    throw Error("aligning to the input poses needs at least 3 views whose camera centres do not lie on one line "
                "(the reference's Umeyama alignment fails there too)");
  M3 S = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  if (det(U) * det(V) < 0) S[8] = -1;  // a rotation, not a reflection
  Sim3 m;
  m.R = mul(mul(U, S), transpose(V));
  m.s = (d[0] * S[0] + d[1] * S[4] + d[2] * S[8]) / sigma;
  for (int i = 0; i < 3; ++i)
    m.t[i] = my[i] - m.s * (m.R[i * 3] * mx[0] + m.R[i * 3 + 1] * mx[1] + m.R[i * 3 + 2] * mx[2]);
  return m;
}

Sim3 align_camera_centres(const std::vector<Vec3>& ref, const std::vector<Vec3>& est, bool ransac, uint64_t seed) {
  const Sim3 first = umeyama(est, ref);
  if (!ransac) return first;
  const size_t n = ref.size();
  // Threshold: median over est centres (after the first fit) of the distance to the nearest ref centre.
  std::vector<double> nn;
  for (const Vec3& p : est) {
    const Vec3 q = apply(first, p);
    double best = INFINITY;
    for (const Vec3& r : ref) best = std::min(best, dist(q, r));
    nn.push_back(best);
  }
  const double thresh = median(nn);
  const size_t sub = std::max<size_t>(3, (n + 1) / 2);
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx(n);
  Sim3 best_model = first;
  std::vector<bool> best_inliers;
  size_t best_k = 0;
  double best_err = INFINITY;
  bool have = false;
  for (int iter = 0; iter < 10; ++iter) {
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng);
    std::vector<Vec3> a, b;
    for (size_t k = 0; k < sub; ++k) a.push_back(est[idx[k]]), b.push_back(ref[idx[k]]);
    Sim3 m;
    try {
      m = umeyama(a, b);
    } catch (const Error&) {
      continue;  // a degenerate subset, as the reference skips it
    }
    std::vector<bool> inl(n);
    size_t k = 0;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const double e = dist(apply(m, est[i]), ref[i]);
      inl[i] = e <= thresh;
      if (inl[i]) ++k, sum += e;
    }
    const double mean = k ? sum / k : INFINITY;
    if (!have || k > best_k || (k == best_k && mean < best_err)) {
      have = true, best_k = k, best_err = mean, best_model = m, best_inliers = inl;
    }
  }
  if (best_k >= 3) {
    std::vector<Vec3> a, b;
    for (size_t i = 0; i < n; ++i)
      if (best_inliers[i]) a.push_back(est[i]), b.push_back(ref[i]);
    return umeyama(a, b);
  }
  return best_model;
}

}  // namespace da3::pipeline
