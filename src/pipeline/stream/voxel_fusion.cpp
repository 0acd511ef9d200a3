// See voxel_fusion.hpp.
#include "pipeline/stream/voxel_fusion.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "pipeline/percentile.hpp"

namespace da3::stream {

namespace {

constexpr int64_t kHalfRange = int64_t(1) << 20;  // 21 bits per axis in the key
constexpr char kMagic[8] = {'D', 'A', '3', 'V', 'O', 'X', '2', '\n'};

}  // namespace

VoxelGrid::VoxelGrid(double voxel_size) : voxel_size_(voxel_size) {
  if (!(voxel_size > 0) || !std::isfinite(voxel_size))
    throw Error("--voxel must be a positive size in world units (0: automatic), got " + std::to_string(voxel_size));
}

void VoxelGrid::add_frame(const StreamFrame& f, double conf_percentile) {
  float floor = -INFINITY;
  if (!f.conf.empty() && conf_percentile > 0) {
    std::vector<float> c;
    c.reserve(f.conf.size());
    for (float v : f.conf)
      if (std::isfinite(v)) c.push_back(v);
    if (c.empty()) return;
    floor = static_cast<float>(pipeline::percentile_linear(c, conf_percentile));
  }
  const Backprojector bp(f);
  const double inv = 1 / voxel_size_;
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) {
      const size_t i = size_t(y) * f.width + x;
      const float d = f.depth[i];
      if (!(std::isfinite(d) && d > 0)) continue;
      const float c = f.conf.empty() ? 1.f : f.conf[i];
      if (!(c >= floor)) continue;
      const Vec3 p = bp(x, y, d);
      int64_t k[3];
      bool in_range = true;
      for (int a = 0; a < 3; ++a) {
        const double q = std::floor(p[a] * inv);
        in_range = in_range && std::fabs(q) < double(kHalfRange);
        k[a] = in_range ? static_cast<int64_t>(q) : 0;
      }
      if (!in_range) {
        ++dropped_;
        continue;
      }
      const uint64_t key = (uint64_t(k[0] + kHalfRange) << 42) | (uint64_t(k[1] + kHalfRange) << 21) |
                           uint64_t(k[2] + kHalfRange);
      const float w = std::max(c, 1e-6f);
      auto [it, fresh] = voxels_.try_emplace(key, Voxel{});
      Voxel& v = it->second;
      if (fresh) v.best_conf = -INFINITY;
      for (int a = 0; a < 3; ++a) {
        v.sum[a] += w * static_cast<float>(p[a] - double(k[a]) * voxel_size_);
        v.rgb_sum[a] += w * f.rgb[i * 3 + a];
      }
      v.weight += w;
      if (c > v.best_conf) v.best_conf = c, v.frame = f.index, v.px = x, v.py = y;
    }
}

std::vector<FusedPoint> VoxelGrid::points() const {
  std::vector<uint64_t> keys;
  keys.reserve(voxels_.size());
  for (const auto& kv : voxels_) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end());
  std::vector<FusedPoint> out;
  out.reserve(keys.size());
  for (uint64_t key : keys) {
    const Voxel& v = voxels_.at(key);
    const int64_t k[3] = {int64_t((key >> 42) & 0x1FFFFF) - kHalfRange, int64_t((key >> 21) & 0x1FFFFF) - kHalfRange,
                          int64_t(key & 0x1FFFFF) - kHalfRange};
    FusedPoint p;
    for (int a = 0; a < 3; ++a) {
      p.xyz[a] = static_cast<float>(double(k[a]) * voxel_size_ + v.sum[a] / v.weight);
      p.rgb[a] = static_cast<uint8_t>(std::clamp(std::lround(v.rgb_sum[a] / v.weight), 0L, 255L));
    }
    p.frame = v.frame;
    p.px = v.px;
    p.py = v.py;
    out.push_back(p);
  }
  return out;
}

void VoxelGrid::save(const std::string& path) const {
  std::string buf(kMagic, sizeof kMagic);
  auto put = [&buf](const void* p, size_t n) { buf.append(static_cast<const char*>(p), n); };
  const uint64_t n = voxels_.size();
  put(&voxel_size_, sizeof voxel_size_);
  put(&dropped_, sizeof dropped_);
  put(&n, sizeof n);
  for (const auto& [key, v] : voxels_) {
    put(&key, sizeof key);
    put(&v, sizeof v);
  }
  AtomicFile f(path);
  f.write(buf.data(), buf.size());
  f.commit();
}

VoxelGrid VoxelGrid::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the stream's voxel grid '" + path + "'");
  char magic[sizeof kMagic];
  double size = 0;
  int64_t dropped = 0;
  uint64_t n = 0;
  in.read(magic, sizeof magic);
  in.read(reinterpret_cast<char*>(&size), sizeof size);
  in.read(reinterpret_cast<char*>(&dropped), sizeof dropped);
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  if (!in || std::memcmp(magic, kMagic, sizeof kMagic) != 0 || !(size > 0))
    throw Error("'" + path + "' is not a da3 stream voxel grid (or it is damaged)");
  VoxelGrid g(size);
  g.dropped_ = dropped;
  g.voxels_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t key;
    Voxel v;
    in.read(reinterpret_cast<char*>(&key), sizeof key);
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    if (!in) throw Error("the stream's voxel grid '" + path + "' is truncated");
    g.voxels_.emplace(key, v);
  }
  return g;
}

double auto_voxel_size(const StreamFrame& first) {
  std::vector<float> d;
  for (float v : first.depth)
    if (std::isfinite(v) && v > 0) d.push_back(v);
  if (d.empty()) throw Error("stream: the first frame has no valid depth; cannot choose a voxel size (pass --voxel)");
  return pipeline::percentile_linear(d, 50) / 200;
}

}  // namespace da3::stream
