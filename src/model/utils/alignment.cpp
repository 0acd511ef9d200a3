#include "model/utils/alignment.hpp"

#include <algorithm>
#include <cmath>

namespace da3::model {

namespace {
constexpr float kSkyThreshold = 0.3f;  // compute_sky_mask: non-sky where sky < 0.3

void check_same(const Tensor& a, const Tensor& b, const char* what) {
  DA3_CHECK(a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() && a.dtype() == DType::F32 &&
                b.dtype() == DType::F32,
            std::string(what) + ": tensors must be contiguous f32 of one shape, got " + a.describe() + " and " + b.describe());
}
}  // namespace

float quantile_linear(std::vector<float> v, float q) {
  DA3_CHECK(!v.empty(), "quantile of an empty set");
  std::sort(v.begin(), v.end());
  const float pos = q * static_cast<float>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const float w = pos - static_cast<float>(lo);
  // torch.lerp's two-sided formula (exact at both ends).
  return w < 0.5f ? v[lo] + w * (v[hi] - v[lo]) : v[hi] - (v[hi] - v[lo]) * (1.f - w);
}

float least_squares_scale(const std::vector<float>& a, const std::vector<float>& b, double eps) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += static_cast<double>(a[i]) * b[i];
    den += static_cast<double>(b[i]) * b[i];
  }
  return static_cast<float>(num / std::max(den, eps));
}

void mono_sky_fill(Tensor& depth, const Tensor& sky) {
  check_same(depth, sky, "mono_sky_fill");
  float* d = depth.data_as<float>();
  const float* s = sky.data_as<float>();
  const int64_t n = depth.numel();
  std::vector<float> non_sky;
  for (int64_t i = 0; i < n; ++i)
    if (s[i] < kSkyThreshold) non_sky.push_back(d[i]);
  const int64_t n_non_sky = static_cast<int64_t>(non_sky.size());
  if (n_non_sky <= 10 || n - n_non_sky <= 10) return;
  const float max_depth = quantile_linear(std::move(non_sky), 0.99f);
  for (int64_t i = 0; i < n; ++i)
    if (!(s[i] < kSkyThreshold)) d[i] = max_depth;
}

float nested_align(Tensor& depth, Tensor& depth_conf, Tensor& extrinsics, const Tensor& intrinsics, Tensor metric_depth,
                   const Tensor& metric_sky) {
  check_same(depth, depth_conf, "nested_align");
  check_same(depth, metric_depth, "nested_align");
  check_same(depth, metric_sky, "nested_align");
  const int64_t B = depth.size(0), S = depth.size(1), hw = depth.size(2) * depth.size(3);
  const Tensor K = intrinsics.contiguous();
  // apply_metric_scaling: metric depth * mean focal / 300.
  float* md = metric_depth.data_as<float>();
  for (int64_t v = 0; v < B * S; ++v) {
    const float* k = K.data_as<float>() + v * 9;
    const float f = (k[0] + k[4]) / 2.f / 300.f;
    for (int64_t i = 0; i < hw; ++i) md[v * hw + i] *= f;
  }
  const float* sky = metric_sky.data_as<float>();
  float* d = depth.data_as<float>();
  float* c = depth_conf.data_as<float>();
  const int64_t n = depth.numel();
  std::vector<float> conf_ns;
  for (int64_t i = 0; i < n; ++i)
    if (sky[i] < kSkyThreshold) conf_ns.push_back(c[i]);
  DA3_CHECK(conf_ns.size() > 10, "nested model: fewer than 11 non-sky pixels, cannot align metric scale");
  const float median_conf = quantile_linear(std::move(conf_ns), 0.5f);
  std::vector<float> a, b;
  for (int64_t i = 0; i < n; ++i)
    if (c[i] >= median_conf && sky[i] < kSkyThreshold && md[i] > 1e-2f && d[i] > 1e-3f) {
      a.push_back(md[i]);
      b.push_back(d[i]);
    }
  const float scale = least_squares_scale(a, b);
  for (int64_t i = 0; i < n; ++i) d[i] *= scale;
  Tensor e = extrinsics;
  DA3_CHECK(e.is_contiguous(), "nested_align: extrinsics must be contiguous");
  const int64_t rows = e.size(2);
  for (int64_t v = 0; v < B * S; ++v)
    for (int r = 0; r < 3; ++r) e.data_as<float>()[(v * rows + r) * 4 + 3] *= scale;
  // Sky: depth set to min(0.99 quantile of non-sky depth, 200), confidence to 1.
  std::vector<float> depth_ns;
  for (int64_t i = 0; i < n; ++i)
    if (sky[i] < kSkyThreshold) depth_ns.push_back(d[i]);
  const float max_depth = std::min(quantile_linear(std::move(depth_ns), 0.99f), 200.f);
  for (int64_t i = 0; i < n; ++i)
    if (!(sky[i] < kSkyThreshold)) {
      d[i] = max_depth;
      c[i] = 1.f;
    }
  return scale;
}

}  // namespace da3::model
