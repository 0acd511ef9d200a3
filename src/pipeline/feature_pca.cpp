// See feature_pca.hpp.
#include "pipeline/feature_pca.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "da3/error.hpp"
#include "pipeline/percentile.hpp"

namespace da3::pipeline {

Tensor pca_rgb(const Tensor& features, float clip_percent) {
  DA3_CHECK(features.dim() == 4, "pca_rgb: features must be (T, h, w, C), got " + shape_str(features.shape()));
  const Tensor f = features.to(DType::F32).contiguous();
  const int64_t m = f.size(0) * f.size(1) * f.size(2), c = f.size(3);
  const float* x = f.data_as<float>();
  std::vector<double> mean(size_t(c), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < c; ++j) mean[size_t(j)] += std::isfinite(x[i * c + j]) ? x[i * c + j] : 0.0;
  for (double& v : mean) v /= double(std::max<int64_t>(m, 1));
  auto centred = [&](int64_t i, int64_t j) {
    const float v = x[i * c + j];
    return (std::isfinite(v) ? double(v) : 0.0) - mean[size_t(j)];
  };
  // Subspace iteration for the 3 leading eigenvectors of Xcᵀ Xc, without forming the C x C
  // matrix (C up to 1536, tokens up to ~10^5 for a long video): V <- orth(Xcᵀ (Xc V)).
  constexpr int k = 3;
  const int64_t kk = std::min<int64_t>(k, c);
  std::vector<double> v(size_t(c * k), 0.0), xv(size_t(m * k)), next(size_t(c * k));
  for (int64_t j = 0; j < c; ++j)
    for (int q = 0; q < k; ++q) v[size_t(j * k + q)] = std::sin(double(j + 1) * (q + 1) * 0.7) + (j % (q + 2) == 0);
  auto orthonormalise = [&](std::vector<double>& a) {
    for (int q = 0; q < kk; ++q) {
      for (int p = 0; p < q; ++p) {
        double dot = 0;
        for (int64_t j = 0; j < c; ++j) dot += a[size_t(j * k + q)] * a[size_t(j * k + p)];
        for (int64_t j = 0; j < c; ++j) a[size_t(j * k + q)] -= dot * a[size_t(j * k + p)];
      }
      double norm = 0;
      for (int64_t j = 0; j < c; ++j) norm += a[size_t(j * k + q)] * a[size_t(j * k + q)];
      norm = std::sqrt(norm);
      for (int64_t j = 0; j < c; ++j) a[size_t(j * k + q)] = norm > 0 ? a[size_t(j * k + q)] / norm : 0.0;
    }
  };
  orthonormalise(v);
  for (int iter = 0; iter < 40; ++iter) {
    std::fill(xv.begin(), xv.end(), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < c; ++j) {
        const double xij = centred(i, j);
        for (int q = 0; q < k; ++q) xv[size_t(i * k + q)] += xij * v[size_t(j * k + q)];
      }
    std::fill(next.begin(), next.end(), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < c; ++j) {
        const double xij = centred(i, j);
        for (int q = 0; q < k; ++q) next[size_t(j * k + q)] += xij * xv[size_t(i * k + q)];
      }
    orthonormalise(next);
    v.swap(next);
  }
  for (int q = 0; q < kk; ++q) {  // a fixed sign: the largest component positive
    int64_t at = 0;
    for (int64_t j = 1; j < c; ++j)
      if (std::fabs(v[size_t(j * k + q)]) > std::fabs(v[size_t(at * k + q)])) at = j;
    if (v[size_t(at * k + q)] < 0)
      for (int64_t j = 0; j < c; ++j) v[size_t(j * k + q)] = -v[size_t(j * k + q)];
  }
  Tensor out = Tensor::zeros({f.size(0), f.size(1), f.size(2), 3}, DType::U8);
  uint8_t* o = out.data_as<uint8_t>();
  for (int q = 0; q < kk; ++q) {
    std::vector<double> proj(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      for (int64_t j = 0; j < c; ++j) s += centred(i, j) * v[size_t(j * k + q)];
      proj[size_t(i)] = s;
    }
    std::vector<double> sorted = proj;
    const double lo = percentile_linear(sorted, clip_percent), hi = percentile_linear(sorted, 100.0 - clip_percent);
    const double range = std::max(hi - lo, 1e-8);
    for (int64_t i = 0; i < m; ++i) {
      const double t = std::clamp((proj[size_t(i)] - lo) / range, 0.0, 1.0);
      o[i * 3 + q] = static_cast<uint8_t>(t * 255.0);
    }
  }
  return out;
}

}  // namespace da3::pipeline
