#include "io/colmap.hpp"

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "io/atomic_file.hpp"

namespace da3::io {

static_assert(std::endian::native == std::endian::little, "COLMAP binary files are little-endian");

namespace {

std::string path_in(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }

// Buffered writes into an AtomicFile.
class Out {
 public:
  explicit Out(const std::string& path) : f_(path) {}
  template <class T>
  void pod(T v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    buf_.append(p, sizeof v);
    flush_if_full();
  }
  void text(const std::string& s) {
    buf_ += s;
    flush_if_full();
  }
  // " <integer>": appended piecewise (GCC 12 warns, wrongly, on `" " + std::string` here).
  void field(uint64_t v) {
    buf_ += ' ';
    buf_ += std::to_string(v);
  }
  void printf_num(double v) {  // COLMAP writes with 17 significant digits
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    buf_ += b;
  }
  void commit() {
    f_.write(buf_.data(), buf_.size());
    f_.commit();
  }

 private:
  void flush_if_full() {
    if (buf_.size() > (1 << 20)) {
      f_.write(buf_.data(), buf_.size());
      buf_.clear();
    }
  }
  AtomicFile f_;
  std::string buf_;
};

}  // namespace

void write_colmap_text(const std::string& dir, const ColmapModel& m) {
  {
    Out o(path_in(dir, "cameras.txt"));
    o.text("# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n");
    o.text("# Number of cameras: " + std::to_string(m.cameras.size()) + "\n");
    for (const auto& c : m.cameras) {
      o.text(std::to_string(c.id));
      o.text(" PINHOLE");
      o.field(c.width);
      o.field(c.height);
      for (double p : c.params) {
        o.text(" ");
        o.printf_num(p);
      }
      o.text("\n");
    }
    o.commit();
  }
  {
    size_t obs = 0;
    for (const auto& im : m.images) obs += im.point3d_id.size();
    char mean[32];
    std::snprintf(mean, sizeof mean, "%.17g", m.images.empty() ? 0.0 : double(obs) / m.images.size());
    Out o(path_in(dir, "images.txt"));
    o.text("# Image list with two lines of data per image:\n"
           "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
           "#   POINTS2D[] as (X, Y, POINT3D_ID)\n");
    o.text("# Number of images: " + std::to_string(m.images.size()) + ", mean observations per image: " + mean + "\n");
    for (const auto& im : m.images) {
      o.text(std::to_string(im.id));
      for (double q : im.qvec) { o.text(" "); o.printf_num(q); }
      for (double t : im.tvec) { o.text(" "); o.printf_num(t); }
      o.field(im.camera_id);
      o.text(" ");
      o.text(im.name);
      o.text("\n");
      for (size_t i = 0; i < im.point3d_id.size(); ++i) {
        if (i) o.text(" ");
        o.printf_num(im.xy[i * 2]);
        o.text(" ");
        o.printf_num(im.xy[i * 2 + 1]);
        if (im.point3d_id[i] == UINT64_MAX) o.text(" -1");
        else o.field(im.point3d_id[i]);
      }
      o.text("\n");
    }
    o.commit();
  }
  {
    Out o(path_in(dir, "points3D.txt"));
    o.text("# 3D point list with one line of data per point:\n"
           "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n");
    o.text("# Number of points: " + std::to_string(m.points.size()) + ", mean track length: " +
           (m.points.empty() ? "0" : "1") + "\n");
    for (const auto& p : m.points) {
      o.text(std::to_string(p.id));
      for (double x : p.xyz) { o.text(" "); o.printf_num(x); }
      for (uint8_t c : p.rgb) o.field(c);
      // Error -1: no reprojection error was measured (COLMAP's value for an unset error).
      o.text(" -1");
      o.field(p.image_id);
      o.field(p.point2d_idx);
      o.text("\n");
    }
    o.commit();
  }
}

void write_colmap_binary(const std::string& dir, const ColmapModel& m) {
  {
    Out o(path_in(dir, "cameras.bin"));
    o.pod<uint64_t>(m.cameras.size());
    for (const auto& c : m.cameras) {
      o.pod<uint32_t>(c.id);
      o.pod<int32_t>(1);  // PINHOLE
      o.pod<uint64_t>(c.width);
      o.pod<uint64_t>(c.height);
      for (double p : c.params) o.pod<double>(p);
    }
    o.commit();
  }
  {
    Out o(path_in(dir, "images.bin"));
    o.pod<uint64_t>(m.images.size());
    for (const auto& im : m.images) {
      o.pod<uint32_t>(im.id);
      for (double q : im.qvec) o.pod<double>(q);
      for (double t : im.tvec) o.pod<double>(t);
      o.pod<uint32_t>(im.camera_id);
      o.text(im.name);
      o.pod<char>('\0');
      o.pod<uint64_t>(im.point3d_id.size());
      for (size_t i = 0; i < im.point3d_id.size(); ++i) {
        o.pod<double>(im.xy[i * 2]);
        o.pod<double>(im.xy[i * 2 + 1]);
        o.pod<uint64_t>(im.point3d_id[i]);
      }
    }
    o.commit();
  }
  {
    Out o(path_in(dir, "points3D.bin"));
    o.pod<uint64_t>(m.points.size());
    for (const auto& p : m.points) {
      o.pod<uint64_t>(p.id);
      for (double x : p.xyz) o.pod<double>(x);
      for (uint8_t c : p.rgb) o.pod<uint8_t>(c);
      o.pod<double>(-1.0);
      o.pod<uint64_t>(1);
      o.pod<uint32_t>(p.image_id);
      o.pod<uint32_t>(p.point2d_idx);
    }
    o.commit();
  }
}

std::array<double, 4> rotation_to_quaternion(const double m[9]) {
  auto M = [&](int i, int j) { return m[i * 3 + j]; };
  double q[4];  // x, y, z, w
  const double trace = M(0, 0) + M(1, 1) + M(2, 2);
  if (trace > 0) {
    double t = std::sqrt(trace + 1.0);
    q[3] = 0.5 * t;
    t = 0.5 / t;
    q[0] = (M(2, 1) - M(1, 2)) * t;
    q[1] = (M(0, 2) - M(2, 0)) * t;
    q[2] = (M(1, 0) - M(0, 1)) * t;
  } else {
    int i = 0;
    if (M(1, 1) > M(0, 0)) i = 1;
    if (M(2, 2) > M(i, i)) i = 2;
    const int j = (i + 1) % 3, k = (j + 1) % 3;
    double t = std::sqrt(M(i, i) - M(j, j) - M(k, k) + 1.0);
    q[i] = 0.5 * t;
    t = 0.5 / t;
    q[3] = (M(k, j) - M(j, k)) * t;
    q[j] = (M(j, i) + M(i, j)) * t;
    q[k] = (M(k, i) + M(i, k)) * t;
  }
  const double norm = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  return {q[3] / norm, q[0] / norm, q[1] / norm, q[2] / norm};
}

}  // namespace da3::io
