#pragma once
// Depth maps to a coloured world-space point cloud, as the reference's export/glb.py
// (_depths_to_world_points_with_colors, get_conf_thresh, _filter_and_downsample) does it; the
// ply, glb and colmap exports share it.
#include <cstdint>
#include <string>
#include <vector>

#include "da3/pipeline.hpp"

namespace da3::pipeline {

struct PointCloud {
  std::vector<float> xyz;    // 3 a point, world frame (inverse of the w2c extrinsics)
  std::vector<uint8_t> rgb;  // 3 a point, from processed_images
  // Where each point came from: view index and pixel (colmap needs them).
  std::vector<int32_t> view, px, py;
  size_t size() const { return view.size(); }
};

// Throws a clear error when `result` lacks what a point export needs (poses, intrinsics).
void require_cameras(const InferenceResult& result, const char* format);

// glb.py get_conf_thresh without a sky mask (the reference's Prediction never carries one):
// clamp(conf_thresh, percentile(conf, p_low), percentile(conf, p_high)).
double glb_conf_threshold(const InferenceResult& result, const ExportOptions& options);
// colmap.py: percentile(conf, conf_thresh_percentile).
double colmap_conf_threshold(const InferenceResult& result, const ExportOptions& options);

// Pixels with finite depth > 0 and conf >= threshold (compared in float32, as numpy compares
// a float32 array with a scalar), back-projected with K^-1 and the inverse extrinsics.
// Without confidence, every pixel with valid depth.
PointCloud world_points(const InferenceResult& result, double conf_threshold);

// _filter_and_downsample: drops non-finite points, then keeps a random subset of `max_points`
// (seeded, in the original order) when there are more. Returns the input indices kept.
std::vector<size_t> filter_and_downsample(PointCloud& cloud, int64_t max_points, uint64_t seed);

// 3x4 (or 4x4) world-to-camera of view `v` as doubles, and its inverse (camera-to-world 3x4).
void camera_to_world(const InferenceResult& result, int64_t v, double c2w[12]);

}  // namespace da3::pipeline
