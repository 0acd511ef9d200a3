#pragma once
// Weighted RANSAC homography fit of ray_utils.py (ransac_find_homography_weighted_fast_batch
// and find_homography_least_squares_weighted_torch*), for one view at a time, in double.
#include <cstdint>
#include <vector>

namespace da3::model::ray {

// Our replacement for torch's global RNG (see docs/ray_pose.md): SplitMix64, written out here
// so the draws are the same on every platform and standard library (std::uniform_int_distribution
// is not specified bit-for-bit).
class SampleRng {
 public:
  explicit SampleRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n), n >= 1, without modulo bias

 private:
  uint64_t state_;
};

// The first k entries of a uniformly random permutation of 0..n-1 (torch.randperm(n)[:k] in
// distribution, not in value), by a partial Fisher-Yates shuffle.
std::vector<int64_t> randperm_prefix(int64_t n, int64_t k, SampleRng& rng);

// get_params_for_ransac(N): 100 hypotheses of 8 points each, drawn among the
// max(8, int(0.3 N)) most confident points.
struct RansacParams {
  int64_t n_iter = 100;
  int64_t num_sample = 8;
  int64_t n_sample = 0;
};
RansacParams get_params_for_ransac(int64_t n_points);

// One view's correspondences: src/dst are (n, 2) interleaved (x0, y0, x1, y1, ...), weights (n).
struct Correspondences {
  const double* src = nullptr;
  const double* dst = nullptr;
  const double* weight = nullptr;
  int64_t n = 0;
};

// find_homography_least_squares_weighted_torch on the points `idx` (count k >= 1): the null
// vector of the (2k x 9) system whose rows are the DLT equations scaled by sqrt(weight),
// normalised so H[2][2] = 1. H is row-major and maps (x, y, 1) of src to dst.
void fit_homography_weighted(const Correspondences& pts, const int64_t* idx, int64_t k, double h[9]);

struct RansacOptions {
  double reproj_threshold = 0.2;  // camray_to_caminfo's value, in normalised image units
  int64_t max_inlier_num = 8000;  // compute_optimal_rotation_intrinsics_batch passes 8000
};

struct RansacResult {
  double h[9];
  int64_t best_hypothesis = -1;  // row of sample_idx whose inlier set won
  int64_t num_inliers = 0;       // of that set (before any subsampling for the refit)
};

// ransac_find_homography_weighted_fast_batch for one view. `sample_idx` (n_iter x k, row-major)
// indexes into the n_sample most confident points; every hypothesis is fitted, scored by the
// summed weight of the points it reprojects within the threshold, and the first best one's
// inliers are refitted. Above max_inlier_num inliers the refit uses max_inlier_num of them,
// drawn from `rng` as the reference does with torch.randperm. Throws da3::Error with fewer than
// 4 inliers (the reference raises ValueError there).
RansacResult ransac_homography_weighted(const Correspondences& pts, int64_t n_sample, const int64_t* sample_idx,
                                        int64_t n_iter, int64_t k, const RansacOptions& opts, SampleRng& rng);

}  // namespace da3::model::ray
