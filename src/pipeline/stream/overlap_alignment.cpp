// See overlap_alignment.hpp.
#include "pipeline/stream/overlap_alignment.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "da3/error.hpp"
#include "pipeline/percentile.hpp"

namespace da3::stream {

namespace {

Mat3 rotation_of(const std::array<double, 12>& w2c) {
  return {w2c[0], w2c[1], w2c[2], w2c[4], w2c[5], w2c[6], w2c[8], w2c[9], w2c[10]};
}

// Confidence below which a frame's pixel is not used (over the sampled pixels); -inf without
// confidence.
float conf_floor(const StreamFrame& f, const std::vector<size_t>& samples, double percentile) {
  if (f.conf.empty() || percentile <= 0) return -INFINITY;
  std::vector<float> c;
  c.reserve(samples.size());
  for (size_t i : samples)
    if (std::isfinite(f.conf[i])) c.push_back(f.conf[i]);
  if (c.empty()) return INFINITY;
  return static_cast<float>(pipeline::percentile_linear(c, percentile));
}

}  // namespace

SeamAlignment align_overlap(const std::vector<StreamFrame>& world, const std::vector<const StreamFrame*>& window,
                            const AlignmentOptions& o) {
  DA3_CHECK(world.size() == window.size() && !world.empty(), "stream alignment: the overlap sides differ in size");
  std::vector<Vec3> x, y;
  std::vector<double> w;
  std::vector<RotationPair> rotations;
  std::vector<Vec3> cam_x, cam_y;
  for (size_t k = 0; k < world.size(); ++k) {
    const StreamFrame& a = world[k];
    const StreamFrame& b = *window[k];
    if (a.index != b.index)
      throw Error("stream alignment: overlap frame " + std::to_string(k) + " is frame " + std::to_string(b.index) +
                  " in the window but " + std::to_string(a.index) + " in the world");
    if (a.width != b.width || a.height != b.height)
      throw Error("stream: frame " + std::to_string(a.index) + " was processed at " + std::to_string(b.width) + "x" +
                  std::to_string(b.height) + " in one window and " + std::to_string(a.width) + "x" +
                  std::to_string(a.height) + " in the previous one; every frame of a stream must have the same size");
    const int W = a.width, H = a.height;
    const double stride_f = std::sqrt(double(W) * H / std::max(1, o.points_per_frame));
    const int stride = std::max(1, static_cast<int>(std::floor(stride_f)));
    std::vector<size_t> samples;
    for (int yy = stride / 2; yy < H; yy += stride)
      for (int xx = stride / 2; xx < W; xx += stride) samples.push_back(size_t(yy) * W + xx);
    const float fa = conf_floor(a, samples, o.conf_percentile), fb = conf_floor(b, samples, o.conf_percentile);
    const Backprojector pa(a), pb(b);
    for (size_t i : samples) {
      const float da = a.depth[i], db = b.depth[i];
      if (!(std::isfinite(da) && da > 0 && std::isfinite(db) && db > 0)) continue;
      const float ca = a.conf.empty() ? 1.f : a.conf[i], cb = b.conf.empty() ? 1.f : b.conf[i];
      if (!(ca >= fa && cb >= fb)) continue;
      const int px = static_cast<int>(i % W), py = static_cast<int>(i / W);
      x.push_back(pb(px, py, db));
      y.push_back(pa(px, py, da));
      w.push_back(std::sqrt(std::max(ca, 1e-6f) * std::max(cb, 1e-6f)));
    }
    rotations.push_back({rotation_of(b.w2c), rotation_of(a.w2c)});
    cam_x.push_back(camera_centre(b.w2c));
    cam_y.push_back(camera_centre(a.w2c));
  }
  if (x.size() < 16)
    throw Error("stream: only " + std::to_string(x.size()) + " confident pixels in the " + std::to_string(world.size()) +
                " overlap frames ending at frame " + std::to_string(world.back().index) +
                "; the windows cannot be aligned (is the depth valid? try a larger --overlap)");
  // Camera centres count like a typical point (the median weight).
  std::vector<double> ws = w;
  std::nth_element(ws.begin(), ws.begin() + ws.size() / 2, ws.end());
  const double wc = ws[ws.size() / 2];
  x.insert(x.end(), cam_x.begin(), cam_x.end());
  y.insert(y.end(), cam_y.begin(), cam_y.end());
  w.insert(w.end(), cam_x.size(), wc);

  SeamAlignment out;
  out.fit = estimate_sim3_robust(x, y, w, o.robust, rotations, "stream window alignment");
  out.T = out.fit.T;
  std::vector<float> depths;
  for (const StreamFrame& a : world)
    for (size_t i = 0; i < a.depth.size(); i += 97)
      if (std::isfinite(a.depth[i]) && a.depth[i] > 0) depths.push_back(a.depth[i]);
  const double median_depth = depths.empty() ? 1.0 : pipeline::percentile_linear(depths, 50);
  for (size_t k = 0; k < world.size(); ++k) {
    const auto moved = transform_world_to_camera(window[k]->w2c, out.T);
    const Vec3 c = camera_centre(moved), c0 = cam_y[k];
    const double d = std::sqrt((c[0] - c0[0]) * (c[0] - c0[0]) + (c[1] - c0[1]) * (c[1] - c0[1]) +
                               (c[2] - c0[2]) * (c[2] - c0[2]));
    out.centre_error = std::max(out.centre_error, d);
    out.rotation_error_deg =
        std::max(out.rotation_error_deg, rotation_angle_between(rotation_of(moved), rotation_of(world[k].w2c)) * 180 / M_PI);
  }
  out.centre_error_rel = out.centre_error / median_depth;
  return out;
}

}  // namespace da3::stream
