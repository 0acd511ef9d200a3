// The CPU Gaussian rasterizer behind `-f gs_video` (src/pipeline/gs_render.cpp) against what
// the splatting equations give in closed form: one Gaussian's footprint, front-to-back order,
// the orientation of an anisotropic one, and the preview camera path.
#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/gs_render.hpp"

using namespace da3;
using pipeline::GaussianSet;
using pipeline::GsCamera;

namespace {

constexpr float kC0 = 0.28209479177387814f;

// Gaussians with DC colour only: (x, y, z), scales, quaternion (w, x, y, z as the renderer reads
// it), opacity, RGB.
struct G {
  float x, y, z, sx, sy, sz, qw, qx, qy, qz, opacity, r, g, b;
};

GaussianSet make(const std::vector<G>& gs) {
  const int64_t n = static_cast<int64_t>(gs.size());
  GaussianSet s{Tensor::empty({1, n, 3}), Tensor::empty({1, n, 3}), Tensor::empty({1, n, 4}), Tensor::empty({1, n, 3, 1}),
                Tensor::empty({1, n})};
  for (int64_t i = 0; i < n; ++i) {
    const G& g = gs[static_cast<size_t>(i)];
    float* m = s.means.data_as<float>() + i * 3;
    m[0] = g.x, m[1] = g.y, m[2] = g.z;
    float* sc = s.scales.data_as<float>() + i * 3;
    sc[0] = g.sx, sc[1] = g.sy, sc[2] = g.sz;
    float* q = s.rotations.data_as<float>() + i * 4;
    q[0] = g.qw, q[1] = g.qx, q[2] = g.qy, q[3] = g.qz;
    float* h = s.harmonics.data_as<float>() + i * 3;
    // colour = C0 · k + 0.5
    h[0] = (g.r - 0.5f) / kC0, h[1] = (g.g - 0.5f) / kC0, h[2] = (g.b - 0.5f) / kC0;
    s.opacities.data_as<float>()[i] = g.opacity;
  }
  return s;
}

GsCamera camera(int size = 64, double f = 100) {
  GsCamera c;
  c.fx = c.fy = f;
  c.cx = c.cy = size / 2.0;
  c.width = c.height = size;
  return c;
}

double px(const std::vector<uint8_t>& img, int size, int x, int y, int ch) { return img[(size_t(y) * size + x) * 3 + ch] / 255.0; }

}  // namespace

TEST(GsRender, OneGaussianHasTheProjectedFootprint) {
  // σ = 0.1 at depth 5, f = 100: 2 px on the image, variance 4 + the 0.3 low-pass.
  const auto img = pipeline::render_gaussians(make({{0, 0, 5, .1f, .1f, .1f, 1, 0, 0, 0, 0.8f, 1, 1, 1}}), camera());
  const double var = 4.0 + 0.3;
  for (int d : {0, 1, 2, 3, 4}) {
    // pixel centres sit at +0.5: the Gaussian's centre (32, 32) is a pixel corner
    const double dx = 32 + d + 0.5 - 32, dy = 0.5;
    const double expect = 0.8 * std::exp(-0.5 * (dx * dx + dy * dy) / var);
    EXPECT_NEAR(px(img, 64, 32 + d, 32, 0), expect, 1.0 / 255 + 1e-6) << "offset " << d;
  }
  EXPECT_EQ(px(img, 64, 2, 2, 0), 0.0);  // far away: background
}

TEST(GsRender, NearerGaussianCoversFartherWhateverTheirOrder) {
  const G red{0, 0, 4, .2f, .2f, .2f, 1, 0, 0, 0, 0.999f, 1, 0, 0}, green{0, 0, 6, .3f, .3f, .3f, 1, 0, 0, 0, 0.999f, 0, 1, 0};
  for (const auto& list : {std::vector<G>{red, green}, std::vector<G>{green, red}}) {
    const auto img = pipeline::render_gaussians(make(list), camera());
    EXPECT_GT(px(img, 64, 32, 32, 0), 0.95);
    EXPECT_LT(px(img, 64, 32, 32, 1), 0.05);
  }
}

TEST(GsRender, AnisotropicGaussianFollowsItsRotation) {
  // Long along x; rotated 90° about z ((w, x, y, z) = (cos 45°, 0, 0, sin 45°)) it lies along y.
  const float c = std::sqrt(0.5f);
  for (const bool rotated : {false, true}) {
    const G g{0, 0, 5, .5f, .05f, .05f, rotated ? c : 1, 0, 0, rotated ? c : 0, 0.9f, 1, 1, 1};
    const auto img = pipeline::render_gaussians(make({g}), camera());
    const double along_x = px(img, 64, 32 + 12, 32, 0), along_y = px(img, 64, 32, 32 + 12, 0);
    if (rotated) {
      EXPECT_GT(along_y, 0.3);
      EXPECT_LT(along_x, 0.01);
    } else {
      EXPECT_GT(along_x, 0.3);
      EXPECT_LT(along_y, 0.01);
    }
  }
}

TEST(GsRender, BehindTheCameraIsNotDrawn) {
  const auto img = pipeline::render_gaussians(make({{0, 0, -5, 1, 1, 1, 1, 0, 0, 0, 0.9f, 1, 1, 1}}), camera());
  for (uint8_t v : img) ASSERT_EQ(v, 0);
}

TEST(GsRender, PreviewPathRunsFromCameraToCamera) {
  Tensor ext = Tensor::zeros({2, 3, 4}), K = Tensor::zeros({2, 3, 3});
  float* e = ext.data_as<float>();
  for (int v = 0; v < 2; ++v)
    for (int i = 0; i < 3; ++i) e[v * 12 + i * 4 + i] = 1;
  e[12 + 3] = -2;  // second camera: centre at x = +2
  for (int v = 0; v < 2; ++v) {
    float* k = K.data_as<float>() + v * 9;
    k[0] = k[4] = 100 + 50 * v, k[2] = k[5] = 32, k[8] = 1;
  }
  const auto path = pipeline::preview_trajectory(ext, K, 64, 64, 5.0);
  ASSERT_EQ(path.size(), 25u);
  EXPECT_NEAR(path.front().t[0], 0, 1e-9);
  EXPECT_NEAR(path.back().t[0], -2, 1e-9);
  EXPECT_NEAR(path[12].t[0], -1, 1e-9);  // eased: the middle frame is half way
  EXPECT_NEAR(path.back().fx, 150, 1e-9);
  const auto one = pipeline::preview_trajectory(ext.slice(0, 0, 1), K.slice(0, 0, 1), 64, 64, 5.0);
  ASSERT_EQ(one.size(), 36u);
  double far = 0;
  for (const auto& c : one) far = std::max(far, std::hypot(c.t[0], c.t[1]));
  EXPECT_NEAR(far, 0.5, 1e-6);  // a circle of radius 5 % of the depth, through the camera
}
