#pragma once
// Binary little-endian PLY point clouds: float x, y, z and uchar red, green, blue per vertex,
// the layout Open3D, trimesh, CloudCompare and MeshLab all read.
#include <cstdint>
#include <string>
#include <vector>

namespace da3::io {

// xyz: 3 floats a point; rgb: 3 bytes a point; comments go into the header (one a line).
void write_ply_points(const std::string& path, const std::vector<float>& xyz, const std::vector<uint8_t>& rgb,
                      const std::vector<std::string>& comments = {});

}  // namespace da3::io
