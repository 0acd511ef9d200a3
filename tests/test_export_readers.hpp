#pragma once
// Independent readers for the export formats, for the tests only: they parse what the
// exporters wrote (and the reference's files) and check the structure as they go.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace da3::test {

inline std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24; }

// ---- glTF binary -----------------------------------------------------------------------------

struct Glb {
  nlohmann::json doc;
  std::vector<uint8_t> bin;
  // One primitive's vertices: positions (3 floats) and RGBA colours (4 bytes), by mesh name.
  struct Prim {
    int mode = -1;
    std::vector<float> pos;
    std::vector<uint8_t> rgba;
  };
  std::map<std::string, Prim> prims;
};

// Parses and validates what glTF 2.0 requires of the parts we use: header and chunk lengths,
// chunk types and padding, buffer views inside the buffer, accessors inside their views and
// aligned, POSITION min/max equal to the data.
inline Glb parse_glb(const std::vector<uint8_t>& b) {
  Glb g;
  EXPECT_GE(b.size(), 28u);
  EXPECT_EQ(std::memcmp(b.data(), "glTF", 4), 0);
  EXPECT_EQ(le32(&b[4]), 2u) << "glTF version";
  EXPECT_EQ(le32(&b[8]), b.size()) << "header length";
  const uint32_t jlen = le32(&b[12]);
  EXPECT_EQ(std::memcmp(&b[16], "JSON", 4), 0);
  EXPECT_EQ(jlen % 4, 0u) << "JSON chunk must be padded to 4 bytes";
  g.doc = nlohmann::json::parse(b.begin() + 20, b.begin() + 20 + jlen);
  size_t at = 20 + jlen;
  if (at < b.size()) {
    const uint32_t blen = le32(&b[at]);
    EXPECT_EQ(std::memcmp(&b[at + 4], "BIN\0", 4), 0);
    EXPECT_EQ(blen % 4, 0u);
    EXPECT_EQ(at + 8 + blen, b.size());
    g.bin.assign(b.begin() + at + 8, b.begin() + at + 8 + blen);
  }
  EXPECT_EQ(g.doc["asset"]["version"], "2.0");
  if (!g.doc.contains("meshes")) return g;
  EXPECT_LE(g.doc["buffers"][0]["byteLength"].get<size_t>(), g.bin.size());
  auto view_of = [&](const nlohmann::json& acc, size_t elem, size_t comps) -> const uint8_t* {
    const auto& v = g.doc["bufferViews"][acc["bufferView"].get<size_t>()];
    const size_t off = v.value("byteOffset", 0) + acc.value("byteOffset", 0);
    const size_t count = acc["count"];
    EXPECT_GT(count, 0u);
    EXPECT_EQ(off % elem, 0u) << "accessor misaligned";
    EXPECT_LE(acc.value("byteOffset", 0) + count * elem * comps, v["byteLength"].get<size_t>());
    EXPECT_LE(v.value("byteOffset", 0) + v["byteLength"].get<size_t>(), g.bin.size());
    return g.bin.data() + off;
  };
  for (const auto& m : g.doc["meshes"]) {
    const auto& p = m["primitives"][0];
    Glb::Prim out;
    out.mode = p.value("mode", 4);
    const auto& pa = g.doc["accessors"][p["attributes"]["POSITION"].get<size_t>()];
    EXPECT_EQ(pa["componentType"], 5126);
    EXPECT_EQ(pa["type"], "VEC3");
    const size_t n = pa["count"];
    const uint8_t* pp = view_of(pa, 4, 3);
    out.pos.resize(n * 3);
    std::memcpy(out.pos.data(), pp, n * 12);
    for (int c = 0; c < 3; ++c) {
      float lo = INFINITY, hi = -INFINITY;
      for (size_t i = 0; i < n; ++i) lo = std::min(lo, out.pos[i * 3 + c]), hi = std::max(hi, out.pos[i * 3 + c]);
      EXPECT_FLOAT_EQ(pa["min"][c].get<float>(), lo) << "POSITION min";
      EXPECT_FLOAT_EQ(pa["max"][c].get<float>(), hi) << "POSITION max";
    }
    const auto& ca = g.doc["accessors"][p["attributes"]["COLOR_0"].get<size_t>()];
    EXPECT_EQ(ca["componentType"], 5121);
    EXPECT_EQ(ca["type"], "VEC4");
    EXPECT_EQ(ca["count"], n);
    const uint8_t* cp = view_of(ca, 1, 4);
    out.rgba.assign(cp, cp + n * 4);
    g.prims[m["name"]] = std::move(out);
  }
  return g;
}

// ---- PLY ------------------------------------------------------------------------------------

struct Ply {
  std::vector<std::string> header;
  std::vector<float> xyz;
  std::vector<uint8_t> rgb;
};

inline Ply parse_ply(const std::vector<uint8_t>& b) {
  Ply p;
  const std::string text(b.begin(), b.end());
  const size_t end = text.find("end_header\n");
  EXPECT_NE(end, std::string::npos);
  std::istringstream h(text.substr(0, end));
  size_t count = 0;
  for (std::string line; std::getline(h, line);) {
    p.header.push_back(line);
    if (line.rfind("element vertex ", 0) == 0) count = std::stoul(line.substr(15));
  }
  const size_t body = end + 11;
  EXPECT_EQ(b.size() - body, count * 15) << "15 bytes a vertex";
  p.xyz.resize(count * 3);
  p.rgb.resize(count * 3);
  for (size_t i = 0; i < count && body + (i + 1) * 15 <= b.size(); ++i) {
    std::memcpy(&p.xyz[i * 3], &b[body + i * 15], 12);
    std::memcpy(&p.rgb[i * 3], &b[body + i * 15 + 12], 3);
  }
  return p;
}

// ---- COLMAP text -----------------------------------------------------------------------------

struct ColmapText {
  struct Camera { std::string model; int w, h; std::vector<double> params; };
  struct Image { std::vector<double> qt; int camera; std::string name; std::vector<double> xy; std::vector<long> ids; };
  struct Point { std::vector<double> xyz; int rgb[3]; double error; std::vector<long> track; };
  std::map<int, Camera> cameras;
  std::map<int, Image> images;
  std::map<long, Point> points;
};

inline std::vector<std::string> data_lines(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);)
    if (line.empty() || line[0] != '#') out.push_back(line);
  return out;
}

inline ColmapText parse_colmap_text(const std::string& dir) {
  ColmapText m;
  for (const auto& line : data_lines(dir + "/cameras.txt")) {
    std::istringstream s(line);
    int id;
    ColmapText::Camera c;
    s >> id >> c.model >> c.w >> c.h;
    for (double v; s >> v;) c.params.push_back(v);
    m.cameras[id] = c;
  }
  const auto img = data_lines(dir + "/images.txt");
  for (size_t i = 0; i < img.size(); i += 2) {
    std::istringstream s(img[i]);
    int id;
    ColmapText::Image im;
    s >> id;
    im.qt.resize(7);
    for (double& v : im.qt) s >> v;
    s >> im.camera >> im.name;
    std::istringstream p(i + 1 < img.size() ? img[i + 1] : "");
    for (double x, y; p >> x >> y;) {
      long pid;
      p >> pid;
      im.xy.push_back(x);
      im.xy.push_back(y);
      im.ids.push_back(pid);
    }
    m.images[id] = im;
  }
  for (const auto& line : data_lines(dir + "/points3D.txt")) {
    std::istringstream s(line);
    long id;
    ColmapText::Point p;
    p.xyz.resize(3);
    s >> id >> p.xyz[0] >> p.xyz[1] >> p.xyz[2] >> p.rgb[0] >> p.rgb[1] >> p.rgb[2] >> p.error;
    for (long v; s >> v;) p.track.push_back(v);
    m.points[id] = p;
  }
  return m;
}

}  // namespace da3::test
