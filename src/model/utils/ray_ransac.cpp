#include "model/utils/ray_ransac.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "da3/error.hpp"
#include "model/utils/ray_linalg.hpp"

namespace da3::model::ray {

uint64_t SampleRng::next() {
  // SplitMix64 (Steele, Lea, Flood 2014): a Weyl sequence through a 64-bit finaliser.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t SampleRng::below(uint64_t n) {
  // 2^64 mod n values at the bottom of the range would make small results more likely;
  // rejecting them leaves a range that is an exact multiple of n.
  const uint64_t reject_below = (0 - n) % n;
  for (;;) {
    const uint64_t x = next();
    if (x >= reject_below) return x % n;
  }
}

std::vector<int64_t> randperm_prefix(int64_t n, int64_t k, SampleRng& rng) {
  DA3_CHECK(n >= 0 && k >= 0 && k <= n, "randperm_prefix: need 0 <= k <= n");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(perm[i], perm[j]);
  }
  perm.resize(static_cast<size_t>(k));
  return perm;
}

RansacParams get_params_for_ransac(int64_t n_points) {
  RansacParams p;
  // Python's int(N * 0.3): the product in double, truncated.
  p.n_sample = std::max<int64_t>(p.num_sample, static_cast<int64_t>(static_cast<double>(n_points) * 0.3));
  return p;
}

void fit_homography_weighted(const Correspondences& pts, const int64_t* idx, int64_t k, double h[9]) {
  // Column-major (2k x 9) system: rows 0..k-1 are the u-equations, rows k..2k-1 the
  // v-equations, in the reference's order (the order does not change the null vector).
  const int64_t rows = 2 * k;
  std::vector<double> a(static_cast<size_t>(rows * 9), 0.0);
  auto at = [&](int64_t r, int c) -> double& { return a[static_cast<size_t>(c * rows + r)]; };
  for (int64_t i = 0; i < k; ++i) {
    const int64_t p = idx[i];
    const double w = std::sqrt(pts.weight[p]);
    const double x = pts.src[2 * p], y = pts.src[2 * p + 1];
    const double u = pts.dst[2 * p], v = pts.dst[2 * p + 1];
    // [-x, -y, -1, 0, 0, 0, x u, y u, u] * w
    at(i, 0) = -x * w, at(i, 1) = -y * w, at(i, 2) = -w;
    at(i, 6) = x * u * w, at(i, 7) = y * u * w, at(i, 8) = u * w;
    // [0, 0, 0, -x, -y, -1, x v, y v, v] * w
    at(k + i, 3) = -x * w, at(k + i, 4) = -y * w, at(k + i, 5) = -w;
    at(k + i, 6) = x * v * w, at(k + i, 7) = y * v * w, at(k + i, 8) = v * w;
  }
  smallest_right_singular_vector(a.data(), rows, 9, h);
  const double h22 = h[8];
  for (int i = 0; i < 9; ++i) h[i] /= h22;
}

namespace {

// Sum of the weights of the points H maps within `threshold` of their target, and optionally
// the mask of those points. The reference tests sqrt(dx^2 + dy^2) < threshold in float32; the
// squared test here is the same up to double rounding. NaN errors (a point mapped to infinity)
// are not inliers, as there. Four interleaved partial sums keep the latency of the additions
// off the critical path; their order is fixed, so the score does not depend on threads.
double score_hypothesis(const Correspondences& pts, const double h[9], double threshold, std::vector<uint8_t>* mask) {
  const double thr2 = threshold * threshold;
  auto is_inlier = [&](int64_t i) {
    const double x = pts.src[2 * i], y = pts.src[2 * i + 1];
    const double inv_z = 1.0 / (h[6] * x + h[7] * y + h[8]);
    const double dx = (h[0] * x + h[1] * y + h[2]) * inv_z - pts.dst[2 * i];
    const double dy = (h[3] * x + h[4] * y + h[5]) * inv_z - pts.dst[2 * i + 1];
    return dx * dx + dy * dy < thr2;
  };
  // Zero-weight (z-masked) points can be inliers too: they count for the refit's point budget.
  if (mask)
    for (int64_t i = 0; i < pts.n; ++i) (*mask)[static_cast<size_t>(i)] = is_inlier(i);
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t i = 0;
  for (; i + 4 <= pts.n; i += 4)
    for (int l = 0; l < 4; ++l) part[l] += is_inlier(i + l) ? pts.weight[i + l] : 0.0;
  for (; i < pts.n; ++i) part[0] += is_inlier(i) ? pts.weight[i] : 0.0;
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// The first `count` of `subset` in order of descending weight: the prefix of the reference's
// argsort(descending). torch's argsort is not stable (above 16 elements it orders equal keys
// arbitrarily), so equal weights can come out in another order there; we put them in index
// order, which makes the result deterministic. This only matters when a stored draw is replayed
// on a ray map with tied confidences (none in the fixtures), as the draw indexes this order.
// Selecting and sorting (weight, index) pairs gives the prefix faster than a full sort.
std::vector<int64_t> top_by_weight(const Correspondences& pts, const std::vector<int64_t>& subset, int64_t count) {
  std::vector<std::pair<double, int64_t>> keyed(subset.size());
  for (size_t i = 0; i < subset.size(); ++i) keyed[i] = {pts.weight[subset[i]], subset[i]};
  const auto before = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  const auto mid = keyed.begin() + count;
  std::nth_element(keyed.begin(), mid, keyed.end(), before);  // the prefix holds the top `count`
  std::sort(keyed.begin(), mid, before);
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = keyed[static_cast<size_t>(i)].second;
  return out;
}

}  // namespace

RansacResult ransac_homography_weighted(const Correspondences& pts, int64_t n_sample, const int64_t* sample_idx,
                                        int64_t n_iter, int64_t k, const RansacOptions& opts, SampleRng& rng) {
  DA3_CHECK(pts.n >= n_sample && n_sample >= k && k >= 1 && n_iter >= 1,
            "ray pose RANSAC: need 1 <= sample size <= candidates <= points and >= 1 hypothesis");
  // 1. Candidates: the n_sample most confident points.
  std::vector<int64_t> all(static_cast<size_t>(pts.n));
  std::iota(all.begin(), all.end(), int64_t{0});
  const std::vector<int64_t> order = top_by_weight(pts, all, n_sample);
  const int64_t* candidates = order.data();

  // 2-5. Fit and score every hypothesis, in parallel. Each score is a fixed-order sum over the
  // points computed by one thread, so the result does not depend on the number of threads.
  std::vector<std::array<double, 9>> hyps(static_cast<size_t>(n_iter));
  std::vector<double> scores(static_cast<size_t>(n_iter));
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < n_iter; ++it) {
    std::vector<int64_t> chosen(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) chosen[static_cast<size_t>(j)] = candidates[sample_idx[it * k + j]];
    double* h = hyps[static_cast<size_t>(it)].data();
    fit_homography_weighted(pts, chosen.data(), k, h);
    scores[static_cast<size_t>(it)] = score_hypothesis(pts, h, opts.reproj_threshold, nullptr);
  }

  // 6. torch.argmax: the first maximum. (Scores are sums of finite confidences, never NaN.)
  RansacResult res;
  res.best_hypothesis = std::max_element(scores.begin(), scores.end()) - scores.begin();
  {
    std::vector<uint8_t> mask(static_cast<size_t>(pts.n));
    score_hypothesis(pts, hyps[static_cast<size_t>(res.best_hypothesis)].data(), opts.reproj_threshold, &mask);
    std::vector<int64_t> inliers;
    for (int64_t i = 0; i < pts.n; ++i)
      if (mask[static_cast<size_t>(i)]) inliers.push_back(i);
    res.num_inliers = static_cast<int64_t>(inliers.size());
    DA3_CHECK(res.num_inliers >= 4, "ray pose: the best RANSAC hypothesis has " + std::to_string(res.num_inliers) +
                                        " inliers, at least 4 are needed to fit a homography (the reference "
                                        "raises ValueError here too): the predicted rays fit no camera");

    // 7. Large inlier sets: keep the most confident 95 % (at least max_inlier_num) and draw
    // max_inlier_num of them at random, as the reference does.
    if (res.num_inliers > opts.max_inlier_num) {
      const int64_t keep_len =
          std::max(static_cast<int64_t>(static_cast<double>(res.num_inliers) * 0.95), opts.max_inlier_num);
      const std::vector<int64_t> sorted = top_by_weight(pts, inliers, keep_len);
      const std::vector<int64_t> perm = randperm_prefix(keep_len, opts.max_inlier_num, rng);
      std::vector<int64_t> kept(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) kept[i] = sorted[static_cast<size_t>(perm[i])];
      inliers.swap(kept);
    }
    fit_homography_weighted(pts, inliers.data(), static_cast<int64_t>(inliers.size()), res.h);
  }
  return res;
}

}  // namespace da3::model::ray
