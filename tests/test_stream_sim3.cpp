// Sim(3) estimation between stream windows (src/pipeline/stream/sim3.hpp), on synthetic data
// with a known answer: every expected value is the transform the data was built with.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "da3/error.hpp"
#include "pipeline/stream/sim3.hpp"

namespace da3::stream {
namespace {

constexpr double kDeg = M_PI / 180;

Sim3 random_sim3(std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> u(-1, 1);
  Sim3 T;
  T.s = std::exp(u(rng) * 1.5);  // 0.22 .. 4.5
  T.R = rotation_from_axis_angle({g(rng), g(rng), g(rng)}, M_PI * (0.2 + 0.7 * (u(rng) + 1) / 2));
  T.t = {5 * u(rng), 5 * u(rng), 5 * u(rng)};
  return T;
}

// An overlap as a stream sees it: 8 cameras moving forward through a 10 m box-shaped scene,
// 2,000 surface points. The scene is 10 m across. `x` in the source window's frame; `y` = truth(x) plus Gaussian noise
// of `noise` times the scene's extent (its bounding box's longest side), and a fraction
// `outliers` of the y replaced by points drawn uniformly over the scene's bounding box.
struct Overlap {
  std::vector<Vec3> x, y;
  std::vector<double> w;
  std::vector<RotationPair> cams;
  std::vector<Vec3> cam_x, cam_y;
};

Overlap make_overlap(const Sim3& truth, double noise, double outliers, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> g;
  Overlap o;
  const double extent = 10;
  for (int i = 0; i < 2000; ++i) {
    // Points on the walls, floor and far end of a room [-5,5] x [-3,3] x [0,10], plus clutter.
    Vec3 p;
    const int face = i % 5;
    if (face == 0) p = {-5, 6 * u(rng) - 3, 10 * u(rng)};
    else if (face == 1) p = {5, 6 * u(rng) - 3, 10 * u(rng)};
    else if (face == 2) p = {10 * u(rng) - 5, 3, 10 * u(rng)};
    else if (face == 3) p = {10 * u(rng) - 5, 6 * u(rng) - 3, 10};
    else p = {10 * u(rng) - 5, 6 * u(rng) - 3, 10 * u(rng)};
    o.x.push_back(p);
    o.w.push_back(0.5 + u(rng));  // confidences
  }
  Vec3 lo{1e9, 1e9, 1e9}, hi{-1e9, -1e9, -1e9};
  for (const Vec3& p : o.x) {
    const Vec3 q = truth.apply(p);
    Vec3 n = q;
    for (int c = 0; c < 3; ++c) n[c] += g(rng) * noise * extent * truth.s;  // extent in y's units
    o.y.push_back(n);
    for (int c = 0; c < 3; ++c) lo[c] = std::min(lo[c], q[c]), hi[c] = std::max(hi[c], q[c]);
  }
  const size_t bad = static_cast<size_t>(outliers * double(o.y.size()));
  std::vector<size_t> idx(o.y.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::shuffle(idx.begin(), idx.end(), rng);
  for (size_t k = 0; k < bad; ++k)
    for (int c = 0; c < 3; ++c) o.y[idx[k]][c] = lo[c] + (hi[c] - lo[c]) * u(rng);
  // Cameras: world-to-camera rotations Qx in the source frame; in the target frame Qy = Qx Rᵀ.
  for (int k = 0; k < 8; ++k) {
    const Mat3 q = rotation_from_axis_angle({0.1 * g(rng), 1, 0.1 * g(rng)}, 0.05 * k);
    const Vec3 c = {0.2 * g(rng), 0, 0.5 * k};
    // The target rotation carries its own error (0.1° rms per axis when noise is on), as a
    // predicted camera would.
    const Mat3 err = rotation_from_axis_angle({g(rng), g(rng), g(rng)}, noise > 0 ? 0.1 * kDeg * std::fabs(g(rng)) * 1.7 : 0);
    o.cams.push_back({q, mat3_mul(err, mat3_mul(q, mat3_transpose(truth.R)))});
    o.cam_x.push_back(c);
    o.cam_y.push_back(truth.apply(c));
  }
  return o;
}

void expect_close(const Sim3& got, const Sim3& truth, double scale_tol, double angle_tol_deg, const char* what) {
  // Reported, so a run shows the margin and not only a pass.
  std::printf("  %-18s scale error %.2e, rotation error %.4f deg\n", what, std::fabs(got.s / truth.s - 1),
              rotation_angle_between(got.R, truth.R) / kDeg);
  EXPECT_NEAR(got.s / truth.s, 1.0, scale_tol) << what;
  EXPECT_LT(rotation_angle_between(got.R, truth.R) / kDeg, angle_tol_deg) << what;
}

TEST(StreamSim3, ComposeInverseAndCameraTransformAgree) {
  std::mt19937_64 rng(1);
  const Sim3 a = random_sim3(rng), b = random_sim3(rng);
  const Vec3 p = {0.3, -1.2, 2.5};
  const Vec3 ab = (a * b).apply(p), ab2 = a.apply(b.apply(p));
  const Vec3 back = a.inverse().apply(a.apply(p));
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(ab[c], ab2[c], 1e-12);
    EXPECT_NEAR(back[c], p[c], 1e-12);
  }
  // A camera seeing p at camera coordinates q sees T(p) at s q after the world moved by T.
  const Mat3 Rc = rotation_from_axis_angle({1, 2, 3}, 0.7);
  std::array<double, 12> w2c{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) w2c[i * 4 + j] = Rc[i * 3 + j];
    w2c[i * 4 + 3] = 0.5 * (i + 1);
  }
  const auto moved = transform_world_to_camera(w2c, a);
  const Vec3 tp = a.apply(p);
  for (int i = 0; i < 3; ++i) {
    const double q = w2c[i * 4] * p[0] + w2c[i * 4 + 1] * p[1] + w2c[i * 4 + 2] * p[2] + w2c[i * 4 + 3];
    const double q2 = moved[i * 4] * tp[0] + moved[i * 4 + 1] * tp[1] + moved[i * 4 + 2] * tp[2] + moved[i * 4 + 3];
    EXPECT_NEAR(q2, a.s * q, 1e-9);
  }
  const Vec3 c = camera_centre(moved), c0 = a.apply(camera_centre(w2c));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(c[i], c0[i], 1e-9);
}

TEST(StreamSim3, WeightedUmeyamaIsExactWithoutNoise) {
  for (uint64_t seed = 0; seed < 5; ++seed) {
    std::mt19937_64 rng(100 + seed);
    const Sim3 truth = random_sim3(rng);
    const Overlap o = make_overlap(truth, 0, 0, seed);
    Sim3 got;
    ASSERT_TRUE(umeyama_weighted(o.x, o.y, o.w, got));
    expect_close(got, truth, 1e-10, 1e-5, "exact");
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(got.t[c], truth.t[c], 1e-8);
  }
}

TEST(StreamSim3, DegenerateInputsAreRefused) {
  std::vector<Vec3> line = {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}};
  std::vector<double> w(4, 1.0);
  Sim3 T;
  EXPECT_FALSE(umeyama_weighted(line, line, w, T));  // a line fixes no rotation about itself
  EXPECT_FALSE(umeyama_weighted(line, line, {0, 0, 0, 0}, T));
  EXPECT_THROW(estimate_sim3_robust(line, line, w), Error);
  EXPECT_THROW(estimate_sim3_robust({{0, 0, 0}, {1, 0, 0}}, {{0, 0, 0}, {1, 0, 0}}, {1, 1}), Error);
  // NaN points are dropped, not propagated; 3 good ones remain here, but they are collinear.
  std::vector<Vec3> x = line;
  x[0][1] = NAN;
  EXPECT_THROW(estimate_sim3_robust(x, line, w), Error);
}

// The acceptance test: 2,000 points and the overlap's cameras under a known Sim(3),
// noise 1 % of the scene's extent, 30 % gross outliers: scale within 1e-3, rotation within 0.1°.
TEST(StreamSim3, RobustRecoversKnownTransformWithNoiseAndOutliers) {
  for (uint64_t seed = 0; seed < 6; ++seed) {
    std::mt19937_64 rng(200 + seed);
    const Sim3 truth = random_sim3(rng);
    const Overlap o = make_overlap(truth, 0.01, 0.30, 1000 + seed);
    // Points plus camera centres (weighted like a confident point) and camera rotations.
    std::vector<Vec3> x = o.x, y = o.y;
    std::vector<double> w = o.w;
    x.insert(x.end(), o.cam_x.begin(), o.cam_x.end());
    y.insert(y.end(), o.cam_y.begin(), o.cam_y.end());
    w.insert(w.end(), o.cam_x.size(), 1.5);
    RobustSim3Options opt;
    opt.seed = seed;
    const RobustSim3Result with_cams = estimate_sim3_robust(x, y, w, opt, o.cams);
    expect_close(with_cams.T, truth, 1e-3, 0.1, "points + cameras");
    // Without the cameras the rotation rests on the points alone, whose statistical limit here
    // is ~0.07° (σ / (√n · spread)); the bound is looser accordingly.
    const RobustSim3Result points_only = estimate_sim3_robust(o.x, o.y, o.w, opt);
    expect_close(points_only.T, truth, 1e-3, 0.2, "points only");
    // Inliers found: the 70 % that are not outliers, give or take the noise's tail.
    EXPECT_GT(points_only.inliers, 1300u);
    EXPECT_LT(points_only.inliers, 1500u);
    // The residual scale is the noise's (per-axis σ = 1 % of 10 = 0.1, times s), not the outliers'.
    EXPECT_NEAR(points_only.residual_scale / truth.s, 0.1, 0.01);
  }
}

// The same data defeats a plain (non-robust) weighted Umeyama: the test above measures
// robustness, not luck of the data.
TEST(StreamSim3, PlainUmeyamaFailsOnTheOutliers) {
  std::mt19937_64 rng(200);
  const Sim3 truth = random_sim3(rng);
  const Overlap o = make_overlap(truth, 0.01, 0.30, 1000);
  Sim3 plain;
  ASSERT_TRUE(umeyama_weighted(o.x, o.y, o.w, plain));
  EXPECT_GT(std::fabs(plain.s / truth.s - 1), 1e-2);
}

// Camera rotations pull the estimate only as far as they agree with the points: a wildly wrong
// camera (a 40° error) is downweighted and the answer stays within tolerance.
TEST(StreamSim3, AWrongCameraRotationIsDownweighted) {
  std::mt19937_64 rng(300);
  const Sim3 truth = random_sim3(rng);
  Overlap o = make_overlap(truth, 0.01, 0.30, 3000);
  o.cams[3].to = mat3_mul(rotation_from_axis_angle({1, 0, 0}, 40 * kDeg), o.cams[3].to);
  const RobustSim3Result r = estimate_sim3_robust(o.x, o.y, o.w, {}, o.cams);
  expect_close(r.T, truth, 1e-3, 0.1, "one wrong camera");
}

}  // namespace
}  // namespace da3::stream
