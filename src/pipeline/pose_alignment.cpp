#include "pipeline/pose_alignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <numeric>
#include <random>

#include "da3/error.hpp"
#include "pipeline/percentile.hpp"

namespace da3::pipeline {

namespace {

double dist(const Vec3& a, const Vec3& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

}  // namespace

Sim3 umeyama(const std::vector<Vec3>& x, const std::vector<Vec3>& y) {
  DA3_CHECK(x.size() == y.size() && !x.empty(), "pose alignment: the two sets of camera centres differ in size");
  const std::optional<Sim3> m = umeyama_evo(x, y);
  if (!m)
    throw Error("aligning to the input poses needs at least 3 views whose camera centres do not lie on one line "
                "(the reference's Umeyama alignment fails there too)");
  return *m;
}

Sim3 align_camera_centres(const std::vector<Vec3>& ref, const std::vector<Vec3>& est, bool ransac, uint64_t seed) {
  const Sim3 first = umeyama(est, ref);
  if (!ransac) return first;
  const size_t n = ref.size();
  // Threshold: median over est centres (after the first fit) of the distance to the nearest ref centre.
  std::vector<double> nn;
  for (const Vec3& p : est) {
    const Vec3 q = first.apply(p);
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
      const double e = dist(m.apply(est[i]), ref[i]);
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
