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

// One registered image of a COLMAP sparse model as a pose-conditioned run needs it: its file
// name (relative to the dataset's images/ folder), world-to-camera pose and pinhole intrinsics.
struct ColmapView {
  std::string name;
  std::array<double, 9> rotation{};  // world-to-camera, row-major (from the quaternion)
  std::array<double, 3> translation{};
  std::array<double, 9> intrinsics{};  // pixels of the image as COLMAP saw it
  uint64_t width = 0, height = 0;
  std::string camera_model;  // PINHOLE, SIMPLE_RADIAL, OPENCV, ...
};

// Reads cameras and images of the sparse model in `dir`, binary (cameras.bin, images.bin) or
// text (cameras.txt, images.txt), binary first when both are there, as COLMAP does; points3D is
// not needed and not read. Views come sorted by image name. Camera models other than
// (SIMPLE_)PINHOLE keep their focal length and principal point; their distortion is dropped (the
// network takes a pinhole camera). Every count and length is checked against the file: a
// truncated or malformed model throws da3::Error naming the file and what is wrong.
std::vector<ColmapView> read_colmap_views(const std::string& dir);

}  // namespace da3::io
