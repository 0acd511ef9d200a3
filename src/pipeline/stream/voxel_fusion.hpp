#pragma once
// The stream's fused point cloud, accumulated in a sparse voxel grid: each occupied voxel keeps
// the confidence-weighted mean position and colour of the confident pixels that fell into it,
// and the pixel with the highest confidence (COLMAP needs one observation per point). Memory
// grows with the surface the camera has seen, not with the number of frames: a camera that
// keeps looking at the same room adds nothing.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/stream/stream_frame.hpp"

namespace da3::stream {

struct FusedPoint {
  float xyz[3];
  uint8_t rgb[3];
  int64_t frame;   // the observation kept: frame index and pixel
  int32_t px, py;
};

class VoxelGrid {
 public:
  // `voxel_size` > 0 in world units.
  explicit VoxelGrid(double voxel_size);

  // Adds the pixels of `f` (world frame) with finite depth > 0 and confidence at or above the
  // `conf_percentile` percentile of the frame's confidence (every valid pixel without one).
  void add_frame(const StreamFrame& f, double conf_percentile);

  size_t size() const { return voxels_.size(); }
  double voxel_size() const { return voxel_size_; }
  int64_t dropped() const { return dropped_; }  // points beyond the grid's ±2²⁰ voxels

  // Every voxel's point, in a fixed order (by voxel key), so that files are reproducible.
  std::vector<FusedPoint> points() const;

  // The grid as a file (for --resume), written atomically; load() refuses anything else with a
  // clear error.
  void save(const std::string& path) const;
  static VoxelGrid load(const std::string& path);

 private:
  // 44 bytes (+ the hash map's node): float sums keep ~7 digits, far finer than a voxel.
  struct Voxel {
    float sum[3];      // Σ c · (xyz - the voxel's corner): small numbers, so float keeps precision
    float rgb_sum[3];  // Σ c · rgb
    float weight;      // Σ c
    float best_conf;
    int32_t px, py;
    int64_t frame;
  };
  double voxel_size_;
  int64_t dropped_ = 0;
  std::unordered_map<uint64_t, Voxel> voxels_;
};

// The voxel size a stream uses unless told: 1/200 of the first frame's median depth, about two
// pixels' footprint at 504 px wide (DA3's default resolution) there.
double auto_voxel_size(const StreamFrame& first);

}  // namespace da3::stream
