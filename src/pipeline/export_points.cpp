// ply (world-space point cloud) and glb (the reference's export/glb.py scene: points aligned
// to the first camera in glTF axes, centred on their median, plus camera frustums).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/glb.hpp"
#include "io/ply.hpp"
#include "pipeline/percentile.hpp"
#include "pipeline/point_cloud.hpp"

namespace da3 {

namespace {

using pipeline::PointCloud;

// A 3x4 affine transform applied to a point, in double.
void apply(const double A[12], const double p[3], double out[3]) {
  for (int r = 0; r < 3; ++r) out[r] = A[r * 4] * p[0] + A[r * 4 + 1] * p[1] + A[r * 4 + 2] * p[2] + A[r * 4 + 3];
}

// _compute_alignment_transform_first_cam_glTF_center_by_points: world -> first camera (x right,
// y down, z forward) -> glTF (y up, z backward) -> minus the median of the points.
void gltf_alignment(const InferenceResult& r, const PointCloud& pc, double A[12]) {
  const float* e = r.extrinsics.data_as<float>();  // view 0, w2c
  for (int c = 0; c < 4; ++c) {
    A[c] = e[c];
    A[4 + c] = -double(e[4 + c]);
    A[8 + c] = -double(e[8 + c]);
  }
  if (pc.size() == 0) return;
  std::vector<double> axis[3];
  for (auto& a : axis) a.resize(pc.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    const double p[3] = {pc.xyz[i * 3], pc.xyz[i * 3 + 1], pc.xyz[i * 3 + 2]};
    double q[3];
    apply(A, p, q);
    for (int c = 0; c < 3; ++c) axis[c][i] = q[c];
  }
  for (int c = 0; c < 3; ++c) A[c * 4 + 3] -= pipeline::median(axis[c]);
}

// _estimate_scene_scale: length of the 5 %..95 % percentile box diagonal, 1 when degenerate.
double scene_scale(const std::vector<double>& xyz) {
  const size_t n = xyz.size() / 3;
  if (n < 2) return 1.0;
  double sq = 0;
  for (int c = 0; c < 3; ++c) {
    std::vector<double> a(n);
    for (size_t i = 0; i < n; ++i) a[i] = xyz[i * 3 + c];
    std::vector<double> b = a;
    const double d = pipeline::percentile_linear(b, 95.0) - pipeline::percentile_linear(a, 5.0);
    sq += d * d;
  }
  const double diag = std::sqrt(sq);
  return std::isfinite(diag) && diag > 0 ? diag : 1.0;
}

// _index_color_rgb: evenly spaced hues, s = 0.85, v = 0.95.
std::array<uint8_t, 4> camera_color(int64_t i, int64_t n) {
  const double h = (i + 0.5) / double(std::max<int64_t>(n, 1)), s = 0.85, v = 0.95;
  const int k = static_cast<int>(h * 6.0);
  const double f = h * 6.0 - k, p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  double rgb[3];
  switch (k % 6) {
    case 0: rgb[0] = v, rgb[1] = t, rgb[2] = p; break;
    case 1: rgb[0] = q, rgb[1] = v, rgb[2] = p; break;
    case 2: rgb[0] = p, rgb[1] = v, rgb[2] = t; break;
    case 3: rgb[0] = p, rgb[1] = q, rgb[2] = v; break;
    case 4: rgb[0] = t, rgb[1] = p, rgb[2] = v; break;
    default: rgb[0] = v, rgb[1] = p, rgb[2] = q; break;
  }
  return {static_cast<uint8_t>(rgb[0] * 255), static_cast<uint8_t>(rgb[1] * 255), static_cast<uint8_t>(rgb[2] * 255),
          255};
}

// _camera_frustum_lines: centre to the four image corners on the z = scale plane, and the
// rectangle between them; 8 segments, 16 vertices, world frame.
std::vector<double> frustum(const InferenceResult& r, int64_t v, double scale) {
  const int64_t H = r.depth.size(1), W = r.depth.size(2);
  const float* k = r.intrinsics.data_as<float>() + v * 9;
  // K^-1 of an upper-triangular pinhole matrix, in general form as np.linalg.inv computes it.
  const double K[9] = {k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]};
  const double det = K[0] * (K[4] * K[8] - K[5] * K[7]) - K[1] * (K[3] * K[8] - K[5] * K[6]) +
                     K[2] * (K[3] * K[7] - K[4] * K[6]);
  DA3_CHECK(det != 0 && std::isfinite(det), "intrinsics of view " + std::to_string(v) + " are singular");
  const double Ki[9] = {(K[4] * K[8] - K[5] * K[7]) / det, (K[2] * K[7] - K[1] * K[8]) / det,
                        (K[1] * K[5] - K[2] * K[4]) / det, (K[5] * K[6] - K[3] * K[8]) / det,
                        (K[0] * K[8] - K[2] * K[6]) / det, (K[2] * K[3] - K[0] * K[5]) / det,
                        (K[3] * K[7] - K[4] * K[6]) / det, (K[1] * K[6] - K[0] * K[7]) / det,
                        (K[0] * K[4] - K[1] * K[3]) / det};
  double c2w[12];
  pipeline::camera_to_world(r, v, c2w);
  const double corners[4][2] = {{0, 0}, {double(W - 1), 0}, {double(W - 1), double(H - 1)}, {0, double(H - 1)}};
  double plane[4][3];
  for (int c = 0; c < 4; ++c) {
    double ray[3];
    for (int a = 0; a < 3; ++a) ray[a] = Ki[a * 3] * corners[c][0] + Ki[a * 3 + 1] * corners[c][1] + Ki[a * 3 + 2];
    const double z = ray[2] == 0 ? 1.0 : ray[2];
    const double cam[3] = {ray[0] / z * scale, ray[1] / z * scale, ray[2] / z * scale};
    apply(c2w, cam, plane[c]);
  }
  const double centre[3] = {c2w[3], c2w[7], c2w[11]};
  std::vector<double> seg;
  auto add = [&](const double* a, const double* b) {
    seg.insert(seg.end(), a, a + 3);
    seg.insert(seg.end(), b, b + 3);
  };
  for (int c = 0; c < 4; ++c) add(centre, plane[c]);
  for (int c = 0; c < 4; ++c) add(plane[c], plane[(c + 1) % 4]);
  return seg;
}

}  // namespace

void export_ply(const InferenceResult& r, const std::string& path, const ExportOptions& o) {
  pipeline::require_cameras(r, "ply");
  const double thr = pipeline::glb_conf_threshold(r, o);
  PointCloud pc = pipeline::world_points(r, thr);
  pipeline::filter_and_downsample(pc, o.num_max_points, o.seed);
  char line[96];
  std::snprintf(line, sizeof line, "confidence threshold %.9g", thr);
  io::write_ply_points(path, pc.xyz, pc.rgb,
                       {"generated by da3.cpp (Depth Anything 3)",
                        "world frame of the camera poses (extrinsics are world-to-camera)", line});
}

void export_glb(const InferenceResult& r, const std::string& path, const ExportOptions& o) {
  pipeline::require_cameras(r, "glb");
  PointCloud pc = pipeline::world_points(r, pipeline::glb_conf_threshold(r, o));
  double A[12];
  gltf_alignment(r, pc, A);
  // Transformed in double (as trimesh does), filtered and subsampled after the centring.
  std::vector<double> pts(pc.size() * 3);
  for (size_t i = 0; i < pc.size(); ++i) {
    const double p[3] = {pc.xyz[i * 3], pc.xyz[i * 3 + 1], pc.xyz[i * 3 + 2]};
    apply(A, p, &pts[i * 3]);
  }
  for (size_t i = 0; i < pts.size(); ++i) pc.xyz[i] = static_cast<float>(pts[i]);
  const std::vector<size_t> kept_index = pipeline::filter_and_downsample(pc, o.num_max_points, o.seed);
  // The scene scale is taken from the kept points, in double as the reference holds them.
  std::vector<double> kept;
  kept.reserve(kept_index.size() * 3);
  for (size_t j : kept_index) kept.insert(kept.end(), &pts[j * 3], &pts[j * 3] + 3);

  std::vector<io::GlbPrimitive> prims;
  io::GlbPrimitive points;
  points.mode = io::GlbPrimitive::Points;
  points.name = "points";
  points.positions = pc.xyz;
  points.colors.reserve(pc.size() * 4);
  for (size_t i = 0; i < pc.size(); ++i) {
    points.colors.insert(points.colors.end(), &pc.rgb[i * 3], &pc.rgb[i * 3] + 3);
    points.colors.push_back(255);
  }
  prims.push_back(std::move(points));
  if (o.show_cameras) {
    const double size = scene_scale(kept) * o.camera_size;
    const int64_t n = r.depth.size(0);
    for (int64_t v = 0; v < n; ++v) {
      const std::vector<double> seg = frustum(r, v, size);
      io::GlbPrimitive lines;
      lines.mode = io::GlbPrimitive::Lines;
      lines.name = "camera_" + std::to_string(v);
      const auto color = camera_color(v, n);
      for (size_t i = 0; i < seg.size() / 3; ++i) {
        double q[3];
        apply(A, &seg[i * 3], q);
        for (double x : q) lines.positions.push_back(static_cast<float>(x));
        lines.colors.insert(lines.colors.end(), color.begin(), color.end());
      }
      prims.push_back(std::move(lines));
    }
  }
  io::write_glb(path, prims);
}

}  // namespace da3
