#pragma once
// COLMAP sparse models (cameras, images, points3D) in COLMAP's text and binary formats, as
// written by colmap/pycolmap (src/colmap/scene/reconstruction_io.cc). Points carry one-element
// tracks (the pixel each came from), which is all a depth-map export produces.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace da3::io {

struct ColmapCamera {
  uint32_t id = 0;
  uint64_t width = 0, height = 0;
  std::array<double, 4> params{};  // PINHOLE (model id 1): fx, fy, cx, cy
};

struct ColmapImage {
  uint32_t id = 0;
  std::array<double, 4> qvec{};  // world-to-camera rotation, (w, x, y, z)
  std::array<double, 3> tvec{};  // world-to-camera translation
  uint32_t camera_id = 0;
  std::string name;
  std::vector<double> xy;            // 2 per 2-D point
  std::vector<uint64_t> point3d_id;  // one per 2-D point
};

struct ColmapPoint {
  uint64_t id = 0;
  std::array<double, 3> xyz{};
  std::array<uint8_t, 3> rgb{};
  uint32_t image_id = 0, point2d_idx = 0;  // the track's one element
};

struct ColmapModel {
  std::vector<ColmapCamera> cameras;
  std::vector<ColmapImage> images;
  std::vector<ColmapPoint> points;
};

// Each writes cameras, images and points3D (.txt / .bin) into an existing directory, each file
// atomically.
void write_colmap_text(const std::string& dir, const ColmapModel& model);
void write_colmap_binary(const std::string& dir, const ColmapModel& model);

// Unit quaternion (w, x, y, z) of a 3x3 rotation (row-major), by the method Eigen's
// Quaternion(Matrix3) uses, which is how pycolmap.Rotation3d builds it.
std::array<double, 4> rotation_to_quaternion(const double r[9]);

}  // namespace da3::io
