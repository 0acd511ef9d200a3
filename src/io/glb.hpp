#pragma once
// A minimal glTF 2.0 binary (.glb) writer for coloured points and line sets: one mesh and one
// node per primitive, POSITION as float32 VEC3 (with the min/max the spec requires) and COLOR_0
// as normalised uint8 RGBA, one shared buffer. The same layout trimesh writes for the
// reference's scene.glb, so viewers treat both alike.
#include <cstdint>
#include <string>
#include <vector>

namespace da3::io {

struct GlbPrimitive {
  enum Mode { Points = 0, Lines = 1 };
  Mode mode = Points;
  std::string name;
  std::vector<float> positions;  // 3 per vertex (Lines: vertex pairs)
  std::vector<uint8_t> colors;   // 4 per vertex (RGBA)
};

// The complete file in memory (JSON chunk + BIN chunk).
std::vector<uint8_t> build_glb(const std::vector<GlbPrimitive>& primitives);
// build_glb written atomically.
void write_glb(const std::string& path, const std::vector<GlbPrimitive>& primitives);

}  // namespace da3::io
