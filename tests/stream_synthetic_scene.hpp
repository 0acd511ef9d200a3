#pragma once
// A synthetic scene for the streaming tests: a camera moving through a box-shaped room along a
// known curved path, and a WindowPredictor that answers each window with that scene's exact
// depth and cameras, expressed in a random Sim(3) of its own (as DA3 answers each window in its
// own frame and scale), optionally with depth noise, wrong pixels and camera noise.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "da3/error.hpp"
#include "pipeline/stream/sim3.hpp"
#include "pipeline/stream/stream_reconstructor.hpp"

namespace da3::test {

struct SyntheticScene {
  int width = 32, height = 24;
  double f = 28;  // focal length, pixels
  // The room: x in [-6, 6], y in [-3, 3], z in [-6, 40].
  double lo[3] = {-6, -3, -6}, hi[3] = {6, 3, 40};

  // True world-to-camera of frame i: a forward walk with sway, yaw and a little pitch.
  std::array<double, 12> w2c(int64_t i) const {
    const double t = double(i);
    const stream::Vec3 c = {2 * std::sin(0.05 * t), 0.3 * std::sin(0.11 * t), 0.12 * t};
    const stream::Mat3 yaw = stream::rotation_from_axis_angle({0, 1, 0}, 0.3 * std::sin(0.04 * t));
    const stream::Mat3 pitch = stream::rotation_from_axis_angle({1, 0, 0}, 0.05 * std::sin(0.07 * t));
    const stream::Mat3 c2w = stream::mat3_mul(yaw, pitch);
    const stream::Mat3 R = stream::mat3_transpose(c2w);
    const stream::Vec3 tr = stream::mat3_apply(R, c);
    std::array<double, 12> e{};
    for (int r = 0; r < 3; ++r) {
      for (int k = 0; k < 3; ++k) e[r * 4 + k] = R[r * 3 + k];
      e[r * 4 + 3] = -tr[r];
    }
    return e;
  }
  std::array<double, 9> K() const { return {f, 0, width / 2.0, 0, f, height / 2.0, 0, 0, 1}; }

  // Depth (camera z) of pixel (x, y) of frame i: the ray from inside the room to its walls.
  double depth(int64_t i, int x, int y) const {
    const auto e = w2c(i);
    const stream::Vec3 ray_cam = {(x - width / 2.0) / f, (y - height / 2.0) / f, 1.0};
    stream::Vec3 d{}, o = stream::camera_centre(e);
    for (int a = 0; a < 3; ++a) d[a] = e[0 * 4 + a] * ray_cam[0] + e[1 * 4 + a] * ray_cam[1] + e[2 * 4 + a] * ray_cam[2];
    double t = INFINITY;
    for (int a = 0; a < 3; ++a) {
      if (d[a] > 0) t = std::min(t, (hi[a] - o[a]) / d[a]);
      if (d[a] < 0) t = std::min(t, (lo[a] - o[a]) / d[a]);
    }
    return t;  // ray_cam has z = 1, so the ray parameter is the depth
  }
};

struct SyntheticNoise {
  double depth_rel = 0;        // Gaussian, relative to depth
  double wrong_pixels = 0;     // fraction of pixels with a depth off by a random factor 0.3..3
  double centre = 0;           // Gaussian camera-centre noise, world units (before the window's Sim(3))
  double rotation_deg = 0;     // camera rotation noise
};

class SyntheticPredictor : public stream::WindowPredictor {
 public:
  SyntheticPredictor(SyntheticScene scene, SyntheticNoise noise, uint64_t seed)
      : scene_(scene), noise_(noise), seed_(seed) {}

  // The Sim(3) window `first_frame` is answered in (true world -> window frame), drawn from the
  // window's first frame so a resumed run sees the same one.
  stream::Sim3 window_transform(int64_t first_frame) const {
    std::mt19937_64 rng(seed_ * 7919 + static_cast<uint64_t>(first_frame));
    std::normal_distribution<double> g;
    std::uniform_real_distribution<double> u(-1, 1);
    stream::Sim3 T;
    T.s = std::exp(1.2 * u(rng));
    T.R = stream::rotation_from_axis_angle({g(rng), g(rng), g(rng)}, M_PI * u(rng));
    T.t = {10 * u(rng), 10 * u(rng), 10 * u(rng)};
    return T;
  }

  InferenceResult predict(const std::vector<RgbImage>& images) override {
    ++calls;
    if (fail_at_call == calls) throw Error("synthetic predictor: failing on purpose (an interrupted run)");
    const int64_t n = static_cast<int64_t>(images.size());
    const int W = scene_.width, H = scene_.height;
    std::vector<int64_t> idx;
    for (const auto& im : images) idx.push_back(std::stoll(im.name.substr(im.name.rfind('_') + 1)));
    const stream::Sim3 G = window_transform(idx.front());
    std::mt19937_64 rng(seed_ + 31 * static_cast<uint64_t>(idx.front()));
    std::normal_distribution<double> g;
    std::uniform_real_distribution<double> u(0, 1);
    InferenceResult r;
    r.depth = Tensor::empty({n, H, W});
    r.conf = Tensor::empty({n, H, W});
    r.extrinsics = Tensor::empty({n, 3, 4});
    r.intrinsics = Tensor::empty({n, 3, 3});
    r.processed_images = Tensor::empty({n, H, W, 3}, DType::U8);
    for (int64_t v = 0; v < n; ++v) {
      const int64_t i = idx[static_cast<size_t>(v)];
      auto e = scene_.w2c(i);
      // Camera noise in the true world (rotation Rc dR, centre c + dc), then the window's frame.
      const stream::Mat3 dR = stream::rotation_from_axis_angle({g(rng), g(rng), g(rng)},
                                                               noise_.rotation_deg * M_PI / 180 * g(rng));
      const stream::Vec3 c = stream::camera_centre(e);
      const stream::Vec3 c2 = {c[0] + noise_.centre * g(rng), c[1] + noise_.centre * g(rng), c[2] + noise_.centre * g(rng)};
      const stream::Mat3 R2 = stream::mat3_mul({e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]}, dR);
      const stream::Vec3 t2 = stream::mat3_apply(R2, c2);
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) e[a * 4 + b] = R2[a * 3 + b];
        e[a * 4 + 3] = -t2[a];
      }
      e = stream::transform_world_to_camera(e, G);
      for (int k = 0; k < 12; ++k) r.extrinsics.data_as<float>()[v * 12 + k] = static_cast<float>(e[k]);
      const auto K = scene_.K();
      for (int k = 0; k < 9; ++k) r.intrinsics.data_as<float>()[v * 9 + k] = static_cast<float>(K[k]);
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const int64_t p = (v * H + y) * W + x;
          double d = scene_.depth(i, x, y) * G.s * (1 + noise_.depth_rel * g(rng));
          if (u(rng) < noise_.wrong_pixels) d *= 0.3 + 2.7 * u(rng);
          r.depth.data_as<float>()[p] = static_cast<float>(d);
          r.conf.data_as<float>()[p] = static_cast<float>(1 + 2 * u(rng));
          uint8_t* rgb = r.processed_images.data_as<uint8_t>() + p * 3;
          rgb[0] = static_cast<uint8_t>((x * 8 + i) % 256);
          rgb[1] = static_cast<uint8_t>(y * 10);
          rgb[2] = static_cast<uint8_t>(i % 256);
        }
      ViewInfo vi;
      vi.source = images[static_cast<size_t>(v)].name;
      vi.orig_width = vi.resized_width = vi.width = W;
      vi.orig_height = vi.resized_height = vi.height = H;
      r.views.push_back(vi);
    }
    return r;
  }

  int calls = 0, fail_at_call = -1;

 private:
  SyntheticScene scene_;
  SyntheticNoise noise_;
  uint64_t seed_;
};

// The frame the synthetic predictor reads: only its name matters ("frame_<i>").
inline RgbImage synthetic_frame(int64_t i) {
  RgbImage im;
  im.width = 2;
  im.height = 2;
  im.rgb.assign(12, 128);
  im.name = "frame_" + std::to_string(i);
  return im;
}

}  // namespace da3::test
