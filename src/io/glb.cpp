#include "io/glb.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "da3/error.hpp"
#include "io/image.hpp"

namespace da3::io {

namespace {

void append(std::vector<uint8_t>& out, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}
void append_u32(std::vector<uint8_t>& out, uint32_t v) {
  const uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
  append(out, b, 4);
}
void pad_to_4(std::vector<uint8_t>& out, uint8_t fill) {
  while (out.size() % 4) out.push_back(fill);
}

}  // namespace

std::vector<uint8_t> build_glb(const std::vector<GlbPrimitive>& prims) {
  using nlohmann::json;
  json accessors = json::array(), views = json::array(), meshes = json::array(), nodes = json::array();
  json scene_nodes = json::array();
  std::vector<uint8_t> bin;
  auto add_view = [&](const void* data, size_t bytes) {
    pad_to_4(bin, 0);  // glTF wants every accessor aligned to its component size
    views.push_back({{"buffer", 0}, {"byteOffset", bin.size()}, {"byteLength", bytes}});
    append(bin, data, bytes);
    return views.size() - 1;
  };
  for (const GlbPrimitive& p : prims) {
    const size_t n = p.positions.size() / 3;
    DA3_CHECK(p.positions.size() == n * 3 && p.colors.size() == n * 4,
              "glb: primitive '" + p.name + "' needs 3 floats and 4 colour bytes a vertex");
    if (n == 0) continue;  // an accessor may not have count 0
    float lo[3], hi[3];
    for (int c = 0; c < 3; ++c) {
      lo[c] = std::numeric_limits<float>::infinity();
      hi[c] = -lo[c];
    }
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) {
        lo[c] = std::min(lo[c], p.positions[i * 3 + c]);
        hi[c] = std::max(hi[c], p.positions[i * 3 + c]);
      }
    const size_t pos_view = add_view(p.positions.data(), p.positions.size() * sizeof(float));
    accessors.push_back({{"bufferView", pos_view}, {"componentType", 5126}, {"type", "VEC3"}, {"count", n},
                         {"min", {lo[0], lo[1], lo[2]}}, {"max", {hi[0], hi[1], hi[2]}}});
    const size_t col_view = add_view(p.colors.data(), p.colors.size());
    accessors.push_back({{"bufferView", col_view}, {"componentType", 5121}, {"normalized", true}, {"type", "VEC4"},
                         {"count", n}});
    meshes.push_back({{"name", p.name},
                      {"primitives", json::array({{{"attributes", {{"POSITION", accessors.size() - 2},
                                                                    {"COLOR_0", accessors.size() - 1}}},
                                                   {"mode", int(p.mode)},
                                                   {"material", 0}}})}});
    scene_nodes.push_back(nodes.size());
    nodes.push_back({{"name", p.name}, {"mesh", meshes.size() - 1}});
  }
  pad_to_4(bin, 0);
  json doc = {{"asset", {{"version", "2.0"}, {"generator", "da3.cpp"}}},
              {"scene", 0},
              {"scenes", json::array({{{"nodes", scene_nodes}}})},
              {"nodes", nodes},
              // Vertex colours times white: what the points and lines look like in any viewer.
              {"materials", json::array({{{"pbrMetallicRoughness",
                                           {{"baseColorFactor", {1, 1, 1, 1}}, {"metallicFactor", 0},
                                            {"roughnessFactor", 1}}}}})}};
  if (!meshes.empty()) {
    doc["meshes"] = meshes;
    doc["accessors"] = accessors;
    doc["bufferViews"] = views;
    doc["buffers"] = json::array({{{"byteLength", bin.size()}}});
  }
  std::string text = doc.dump();
  while (text.size() % 4) text += ' ';  // the JSON chunk is padded with spaces

  std::vector<uint8_t> out;
  const size_t total = 12 + 8 + text.size() + (bin.empty() ? 0 : 8 + bin.size());
  DA3_CHECK(total < 0xFFFFFFFFull, "glb: the scene is larger than 4 GiB; lower the number of points");
  append(out, "glTF", 4);
  append_u32(out, 2);
  append_u32(out, static_cast<uint32_t>(total));
  append_u32(out, static_cast<uint32_t>(text.size()));
  append(out, "JSON", 4);
  append(out, text.data(), text.size());
  if (!bin.empty()) {
    append_u32(out, static_cast<uint32_t>(bin.size()));
    append(out, "BIN\0", 4);
    append(out, bin.data(), bin.size());
  }
  return out;
}

void write_glb(const std::string& path, const std::vector<GlbPrimitive>& primitives) {
  write_file_atomic(path, build_glb(primitives));
}

}  // namespace da3::io
