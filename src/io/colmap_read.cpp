// Reading COLMAP sparse models (binary and text) for pose-conditioned runs: see colmap.hpp.
// Layouts as colmap writes them (src/colmap/scene/reconstruction_io.cc).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "da3/error.hpp"
#include "io/colmap.hpp"
#include "io/image.hpp"

namespace da3::io {

namespace {

namespace fs = std::filesystem;

// COLMAP's camera models: id, name, number of parameters, and whether the parameters start
// with one focal length (f, cx, cy, ...) or two (fx, fy, cx, cy, ...).
struct CameraModel {
  int id;
  const char* name;
  int num_params;
  bool one_focal;
};
constexpr CameraModel kModels[] = {
    {0, "SIMPLE_PINHOLE", 3, true},  {1, "PINHOLE", 4, false},         {2, "SIMPLE_RADIAL", 4, true},
    {3, "RADIAL", 5, true},          {4, "OPENCV", 8, false},          {5, "OPENCV_FISHEYE", 8, false},
    {6, "FULL_OPENCV", 12, false},   {7, "FOV", 5, false},             {8, "SIMPLE_RADIAL_FISHEYE", 4, true},
    {9, "RADIAL_FISHEYE", 5, true},  {10, "THIN_PRISM_FISHEYE", 12, false}};

const CameraModel* model_by_id(int64_t id) {
  for (const auto& m : kModels)
    if (m.id == id) return &m;
  return nullptr;
}
const CameraModel* model_by_name(const std::string& name) {
  for (const auto& m : kModels)
    if (name == m.name) return &m;
  return nullptr;
}

struct Camera {
  const CameraModel* model = nullptr;
  uint64_t width = 0, height = 0;
  std::vector<double> params;
};

struct Image {
  std::array<double, 4> q{};
  std::array<double, 3> t{};
  uint32_t camera_id = 0;
  std::string name;
};

// A cursor over a binary file that refuses to read past its end.
struct Reader {
  const std::vector<uint8_t>& b;
  std::string file;
  size_t at = 0;
  Error truncated() const { return Error("COLMAP file '" + file + "' is truncated or corrupt (at byte " + std::to_string(at) + ")"); }
  template <class T>
  T get() {
    if (b.size() - at < sizeof(T)) throw truncated();
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  void skip(uint64_t n) {
    if (b.size() - at < n) throw truncated();
    at += n;
  }
  std::string cstring() {
    const void* end = std::memchr(b.data() + at, 0, b.size() - at);
    if (!end) throw truncated();
    std::string s(reinterpret_cast<const char*>(b.data() + at), static_cast<const uint8_t*>(end) - (b.data() + at));
    at += s.size() + 1;
    return s;
  }
  // A count read from the file, bounded by what the rest of the file could hold.
  uint64_t count(size_t min_item_bytes) {
    const uint64_t n = get<uint64_t>();
    if (n > (b.size() - at) / std::max<size_t>(min_item_bytes, 1)) throw truncated();
    return n;
  }
};

std::map<uint32_t, Camera> cameras_bin(const std::string& path) {
  const auto bytes = read_file_bytes(path, "COLMAP cameras file");
  Reader r{bytes, path};
  std::map<uint32_t, Camera> out;
  for (uint64_t n = r.count(24), i = 0; i < n; ++i) {
    const auto id = r.get<uint32_t>();
    const auto model_id = r.get<int32_t>();
    Camera c;
    c.model = model_by_id(model_id);
    if (!c.model) throw Error("COLMAP file '" + path + "': camera " + std::to_string(id) + " has unknown model id " + std::to_string(model_id));
    c.width = r.get<uint64_t>();
    c.height = r.get<uint64_t>();
    for (int k = 0; k < c.model->num_params; ++k) c.params.push_back(r.get<double>());
    out[id] = c;
  }
  return out;
}

std::vector<Image> images_bin(const std::string& path) {
  const auto bytes = read_file_bytes(path, "COLMAP images file");
  Reader r{bytes, path};
  std::vector<Image> out;
  for (uint64_t n = r.count(64 + 8 + 1), i = 0; i < n; ++i) {
    Image im;
    r.get<uint32_t>();  // image id
    for (double& q : im.q) q = r.get<double>();
    for (double& t : im.t) t = r.get<double>();
    im.camera_id = r.get<uint32_t>();
    im.name = r.cstring();
    const uint64_t points = r.count(24);
    r.skip(points * 24);  // x, y, point3D id: not needed
    out.push_back(std::move(im));
  }
  return out;
}

// The non-comment lines of a COLMAP text file; empty lines are kept (an image without 2-D
// points has an empty second line).
std::vector<std::string> text_lines(const std::string& path) {
  const auto bytes = read_file_bytes(path, "COLMAP text file");
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] == '#') continue;
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::map<uint32_t, Camera> cameras_txt(const std::string& path) {
  std::map<uint32_t, Camera> out;
  int number = 0;
  for (const std::string& line : text_lines(path)) {
    ++number;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream in(line);
    uint32_t id = 0;
    std::string model;
    Camera c;
    if (!(in >> id >> model >> c.width >> c.height))
      throw Error("COLMAP file '" + path + "': camera line " + std::to_string(number) + " is malformed: " + line);
    c.model = model_by_name(model);
    if (!c.model) throw Error("COLMAP file '" + path + "': unknown camera model '" + model + "'");
    double v;
    while (in >> v) c.params.push_back(v);
    if (static_cast<int>(c.params.size()) != c.model->num_params)
      throw Error("COLMAP file '" + path + "': camera " + std::to_string(id) + " (" + model + ") has " +
                  std::to_string(c.params.size()) + " parameters, expected " + std::to_string(c.model->num_params));
    out[id] = c;
  }
  return out;
}

std::vector<Image> images_txt(const std::string& path) {
  const auto lines = text_lines(path);
  std::vector<Image> out;
  // Two lines per image: the pose line, then its 2-D points (possibly empty).
  for (size_t i = 0; i < lines.size(); i += 2) {
    std::istringstream in(lines[i]);
    Image im;
    uint32_t id = 0;
    if (!(in >> id >> im.q[0] >> im.q[1] >> im.q[2] >> im.q[3] >> im.t[0] >> im.t[1] >> im.t[2] >> im.camera_id))
      throw Error("COLMAP file '" + path + "': image line is malformed: " + lines[i]);
    in >> std::ws;
    std::getline(in, im.name);  // the rest of the line: names may hold spaces
    if (im.name.empty()) throw Error("COLMAP file '" + path + "': image " + std::to_string(id) + " has no name");
    out.push_back(std::move(im));
  }
  return out;
}

}  // namespace

std::vector<ColmapView> read_colmap_views(const std::string& dir) {
  const fs::path d(dir);
  std::map<uint32_t, Camera> cameras;
  std::vector<Image> images;
  if (fs::is_regular_file(d / "cameras.bin") && fs::is_regular_file(d / "images.bin")) {
    cameras = cameras_bin((d / "cameras.bin").string());
    images = images_bin((d / "images.bin").string());
  } else if (fs::is_regular_file(d / "cameras.txt") && fs::is_regular_file(d / "images.txt")) {
    cameras = cameras_txt((d / "cameras.txt").string());
    images = images_txt((d / "images.txt").string());
  } else {
    throw Error("'" + dir + "' holds no COLMAP sparse model (cameras.bin + images.bin, or cameras.txt + images.txt)");
  }
  std::vector<ColmapView> views;
  for (const Image& im : images) {
    const auto c = cameras.find(im.camera_id);
    if (c == cameras.end())
      throw Error("COLMAP model in '" + dir + "': image '" + im.name + "' uses camera " + std::to_string(im.camera_id) +
                  ", which is not in the cameras file");
    const Camera& cam = c->second;
    ColmapView v;
    v.name = im.name;
    v.width = cam.width;
    v.height = cam.height;
    v.camera_model = cam.model->name;
    const double fx = cam.params[0], fy = cam.model->one_focal ? cam.params[0] : cam.params[1];
    const double cx = cam.params[cam.model->one_focal ? 1 : 2], cy = cam.params[cam.model->one_focal ? 2 : 3];
    v.intrinsics = {fx, 0, cx, 0, fy, cy, 0, 0, 1};
    // Unit quaternion (w, x, y, z) to a rotation matrix; normalised first, as COLMAP does.
    const double n = std::sqrt(im.q[0] * im.q[0] + im.q[1] * im.q[1] + im.q[2] * im.q[2] + im.q[3] * im.q[3]);
    if (!(n > 0) || !std::isfinite(n))
      throw Error("COLMAP model in '" + dir + "': image '" + im.name + "' has no valid rotation quaternion");
    const double w = im.q[0] / n, x = im.q[1] / n, y = im.q[2] / n, z = im.q[3] / n;
    v.rotation = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
                  2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                  2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
    v.translation = im.t;
    views.push_back(std::move(v));
  }
  std::sort(views.begin(), views.end(), [](const ColmapView& a, const ColmapView& b) { return a.name < b.name; });
  return views;
}

}  // namespace da3::io
