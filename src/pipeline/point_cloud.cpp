#include "pipeline/point_cloud.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "da3/error.hpp"
#include "pipeline/percentile.hpp"

namespace da3::pipeline {

namespace {

// Inverse of a general 3x3 matrix (np.linalg.inv semantics; a singular one is an error).
void invert3(const double m[9], double out[9], const char* what) {
  const double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  DA3_CHECK(std::isfinite(det) && det != 0, std::string(what) + " is singular");
  const double s = 1.0 / det;
  out[0] = c00 * s;
  out[1] = (m[2] * m[7] - m[1] * m[8]) * s;
  out[2] = (m[1] * m[5] - m[2] * m[4]) * s;
  out[3] = c01 * s;
  out[4] = (m[0] * m[8] - m[2] * m[6]) * s;
  out[5] = (m[2] * m[3] - m[0] * m[5]) * s;
  out[6] = c02 * s;
  out[7] = (m[1] * m[6] - m[0] * m[7]) * s;
  out[8] = (m[0] * m[4] - m[1] * m[3]) * s;
}

std::vector<float> all_conf(const InferenceResult& r) {
  const float* c = r.conf.data_as<float>();
  return std::vector<float>(c, c + r.conf.numel());
}

}  // namespace

void require_cameras(const InferenceResult& r, const char* format) {
  if (!r.extrinsics.defined() || !r.intrinsics.defined())
    throw Error(std::string("the ") + format +
                " export needs camera poses and intrinsics, which this result does not have (monocular and "
                "metric presets predict depth only); use npz, depth_png or depth16");
}

double glb_conf_threshold(const InferenceResult& r, const ExportOptions& o) {
  if (!r.conf.defined()) return -INFINITY;
  std::vector<float> c = all_conf(r);
  const double lower = percentile_linear(c, o.conf_thresh_percentile);
  const double upper = percentile_linear(c, o.ensure_thresh_percentile);
  return std::min(std::max(double(o.conf_thresh), lower), upper);
}

double colmap_conf_threshold(const InferenceResult& r, const ExportOptions& o) {
  if (!r.conf.defined()) return -INFINITY;
  std::vector<float> c = all_conf(r);
  return percentile_linear(c, o.conf_thresh_percentile);
}

void camera_to_world(const InferenceResult& r, int64_t v, double c2w[12]) {
  const float* e = r.extrinsics.data_as<float>() + v * 12;
  const double rot[9] = {e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]};
  double inv[9];
  invert3(rot, inv, ("extrinsics of view " + std::to_string(v)).c_str());
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) c2w[i * 4 + j] = inv[i * 3 + j];
    c2w[i * 4 + 3] = -(inv[i * 3] * e[3] + inv[i * 3 + 1] * e[7] + inv[i * 3 + 2] * e[11]);
  }
}

PointCloud world_points(const InferenceResult& r, double conf_threshold) {
  const int64_t n = r.depth.size(0), H = r.depth.size(1), W = r.depth.size(2);
  const float thr = static_cast<float>(conf_threshold);
  const float* depth = r.depth.data_as<float>();
  const float* conf = r.conf.defined() ? r.conf.data_as<float>() : nullptr;
  const uint8_t* img = r.processed_images.data_as<uint8_t>();
  PointCloud pc;
  for (int64_t v = 0; v < n; ++v) {
    const float* k = r.intrinsics.data_as<float>() + v * 9;
    const double K[9] = {k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]};
    double Ki[9], c2w[12];
    invert3(K, Ki, ("intrinsics of view " + std::to_string(v)).c_str());
    camera_to_world(r, v, c2w);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t i = (v * H + y) * W + x;
        const float d = depth[i];
        if (!(std::isfinite(d) && d > 0)) continue;
        if (conf && !(conf[i] >= thr)) continue;
        double cam[3];
        for (int a = 0; a < 3; ++a) cam[a] = (Ki[a * 3] * x + Ki[a * 3 + 1] * y + Ki[a * 3 + 2]) * d;
        for (int a = 0; a < 3; ++a)
          pc.xyz.push_back(static_cast<float>(c2w[a * 4] * cam[0] + c2w[a * 4 + 1] * cam[1] +
                                              c2w[a * 4 + 2] * cam[2] + c2w[a * 4 + 3]));
        const uint8_t* px = img + i * 3;
        pc.rgb.insert(pc.rgb.end(), px, px + 3);
        pc.view.push_back(static_cast<int32_t>(v));
        pc.px.push_back(static_cast<int32_t>(x));
        pc.py.push_back(static_cast<int32_t>(y));
      }
  }
  return pc;
}

std::vector<size_t> filter_and_downsample(PointCloud& pc, int64_t max_points, uint64_t seed) {
  std::vector<size_t> keep;
  keep.reserve(pc.size());
  for (size_t i = 0; i < pc.size(); ++i)
    if (std::isfinite(pc.xyz[i * 3]) && std::isfinite(pc.xyz[i * 3 + 1]) && std::isfinite(pc.xyz[i * 3 + 2]))
      keep.push_back(i);
  if (max_points >= 0 && keep.size() > static_cast<size_t>(max_points)) {
    // Partial Fisher-Yates: a uniform subset, then back to the original order.
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < static_cast<size_t>(max_points); ++i) {
      std::uniform_int_distribution<size_t> pick(i, keep.size() - 1);
      std::swap(keep[i], keep[pick(rng)]);
    }
    keep.resize(static_cast<size_t>(max_points));
    std::sort(keep.begin(), keep.end());
  }
  if (keep.size() == pc.size()) return keep;
  PointCloud out;
  for (size_t i : keep) {
    out.xyz.insert(out.xyz.end(), &pc.xyz[i * 3], &pc.xyz[i * 3] + 3);
    out.rgb.insert(out.rgb.end(), &pc.rgb[i * 3], &pc.rgb[i * 3] + 3);
    out.view.push_back(pc.view[i]);
    out.px.push_back(pc.px[i]);
    out.py.push_back(pc.py[i]);
  }
  pc = std::move(out);
  return keep;
}

}  // namespace da3::pipeline
