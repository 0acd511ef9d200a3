// postprocess() (the reference OutputProcessor) and to_original_size().
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "pipeline/pose_alignment.hpp"
#include "test_util.hpp"

namespace {

// A batch of n flat views of the given size, as preprocess() would describe them.
da3::PreprocessedBatch flat_batch(int n, int w, int h, da3::ResizeMethod m = da3::ResizeMethod::UpperBoundResize,
                                  int process_res = 56) {
  std::vector<da3::RgbImage> imgs;
  for (int i = 0; i < n; ++i) imgs.push_back({w, h, std::vector<uint8_t>(size_t(w) * h * 3, uint8_t(40 * i)), ""});
  da3::PreprocessOptions o;
  o.process_res = process_res;
  o.method = m;
  return da3::preprocess(imgs, o);
}

da3::Tensor ramp(const da3::Shape& s, float start, float step) {
  da3::Tensor t = da3::Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = start + step * float(i);
  return t;
}

TEST(PipelinePostprocess, ShapesDtypesAndSkyThreshold) {
  const auto b = flat_batch(2, 112, 84);  // -> 56x42
  da3::Prediction p;
  p.depth = ramp({1, 2, 42, 56}, 1.f, 0.001f);
  p.depth_conf = ramp({1, 2, 42, 56}, 1.f, 0.f);
  p.extrinsics = da3::Tensor::zeros({1, 2, 4, 4});
  p.extrinsics.data_as<float>()[3] = 5.f;  // view 0, row 0, t_x
  p.intrinsics = ramp({1, 2, 3, 3}, 1.f, 1.f);
  p.sky = ramp({1, 2, 42, 56}, 0.f, 1.f / (2 * 42 * 56));
  p.is_metric = true;
  const da3::InferenceResult r = da3::postprocess(p, b);
  EXPECT_EQ(r.depth.shape(), (da3::Shape{2, 42, 56}));
  EXPECT_EQ(r.conf.shape(), (da3::Shape{2, 42, 56}));
  EXPECT_EQ(r.extrinsics.shape(), (da3::Shape{2, 3, 4})) << "4x4 poses keep their top three rows";
  EXPECT_EQ(r.extrinsics.data_as<float>()[3], 5.f);
  EXPECT_EQ(r.intrinsics.shape(), (da3::Shape{2, 3, 3}));
  EXPECT_EQ(r.sky.dtype(), da3::DType::Bool);
  // sky >= 0.5 (OutputProcessor), not the 0.3 the network uses to fill sky depth.
  const bool* sky = static_cast<const bool*>(r.sky.data());
  const float* raw = p.sky.data_as<float>();
  for (int64_t i = 0; i < r.sky.numel(); ++i) ASSERT_EQ(sky[i], raw[i] >= 0.5f);
  EXPECT_EQ(r.processed_images.shape(), (da3::Shape{2, 42, 56, 3}));
  EXPECT_TRUE(r.is_metric);
  EXPECT_EQ(r.views.size(), 2u);
}

TEST(PipelinePostprocess, RefusesAPredictionOfAnotherBatch) {
  const auto b = flat_batch(2, 112, 84);
  da3::Prediction p;
  p.depth = da3::Tensor::zeros({1, 3, 42, 56});
  try {
    da3::postprocess(p, b);
    FAIL() << "a 3-view prediction for a 2-view batch must be refused";
  } catch (const da3::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the batch"), std::string::npos) << e.what();
  }
}

TEST(PipelinePostprocess, OriginalSizeOfAResizedView) {
  const auto b = flat_batch(1, 112, 84);  // exactly 2x: 56x42
  da3::Prediction p;
  p.depth = da3::Tensor::full({1, 1, 42, 56}, 3.f);
  da3::Tensor K = da3::Tensor::zeros({1, 1, 3, 3});
  float* k = K.data_as<float>();
  k[0] = 50, k[2] = 28, k[4] = 50, k[5] = 21, k[8] = 1;
  p.intrinsics = K;
  p.sky = da3::Tensor::full({1, 1, 42, 56}, 0.7f);
  const da3::InferenceResult r = da3::postprocess(p, b);
  const da3::OriginalSizeView o = da3::to_original_size(r, 0);
  EXPECT_EQ(o.depth.shape(), (da3::Shape{84, 112}));
  ASSERT_EQ(o.sky.shape(), (da3::Shape{84, 112}));
  EXPECT_TRUE(static_cast<const bool*>(o.sky.data())[84 * 112 - 1]);
  EXPECT_FLOAT_EQ(o.depth.data_as<float>()[84 * 112 - 1], 3.f);
  const float* ko = o.intrinsics.data_as<float>();
  EXPECT_FLOAT_EQ(ko[0], 100.f);
  EXPECT_FLOAT_EQ(ko[2], 56.f);
  EXPECT_FLOAT_EQ(ko[4], 100.f);
  EXPECT_FLOAT_EQ(ko[5], 42.f);
  EXPECT_FALSE(o.conf.defined());
}

TEST(PipelinePostprocess, OriginalSizeOfACroppedViewLeavesTheCutAwayPartEmpty) {
  // 100x56 by upper_bound_crop at 56: 56x31 after resizing, cropped to 56x28 (crop_y 1).
  const auto b = flat_batch(1, 100, 56, da3::ResizeMethod::UpperBoundCrop, 56);
  ASSERT_EQ(b.views[0].crop_y, 1);
  ASSERT_EQ(b.views[0].resized_height, 31);
  da3::Prediction p;
  p.depth = da3::Tensor::full({1, 1, 28, 56}, 2.f);
  const da3::InferenceResult r = da3::postprocess(p, b);
  const da3::OriginalSizeView o = da3::to_original_size(r, 0);
  ASSERT_EQ(o.depth.shape(), (da3::Shape{56, 100}));
  const float* d = o.depth.data_as<float>();
  EXPECT_EQ(d[0], 0.f) << "row 0 of the source was cropped away";
  EXPECT_EQ(d[55 * 100], 0.f) << "so was the last row";
  EXPECT_EQ(d[28 * 100 + 50], 2.f);
}

// The media plugin runs the same cv::resize calls libda3 made itself before: the same bytes.
TEST(PipelinePostprocess, OriginalSizeIsCvResizeIntoTheVisibleRectangle) {
  const auto b = flat_batch(1, 100, 56, da3::ResizeMethod::UpperBoundCrop, 56);  // 56x28, crop_y 1
  da3::Prediction p;
  p.depth = ramp({1, 1, 28, 56}, 0.5f, 0.37f);
  for (int64_t i = 0; i < p.depth.numel(); ++i) p.depth.data_as<float>()[i] = std::sin(0.01f * float(i * i % 997));
  p.sky = p.depth.clone();
  const da3::InferenceResult r = da3::postprocess(p, b);
  const da3::OriginalSizeView o = da3::to_original_size(r, 0);
  const da3::ViewInfo& v = r.views[0];
  const int x0 = int(std::lround(v.crop_x / v.scale_x())), y0 = int(std::lround(v.crop_y / v.scale_y()));
  const int x1 = std::min(v.orig_width, int(std::lround((v.crop_x + 56) / v.scale_x())));
  const int y1 = std::min(v.orig_height, int(std::lround((v.crop_y + 28) / v.scale_y())));
  const cv::Rect roi(x0, y0, x1 - x0, y1 - y0);
  cv::Mat depth = cv::Mat::zeros(56, 100, CV_32FC1), sky = cv::Mat::zeros(56, 100, CV_8UC1);
  cv::resize(cv::Mat(28, 56, CV_32FC1, const_cast<void*>(r.depth.data())), depth(roi), roi.size(), 0, 0, cv::INTER_LINEAR);
  cv::resize(cv::Mat(28, 56, CV_8UC1, const_cast<void*>(r.sky.data())), sky(roi), roi.size(), 0, 0, cv::INTER_NEAREST);
  ASSERT_EQ(o.depth.numel(), 56 * 100);
  EXPECT_EQ(0, std::memcmp(o.depth.data(), depth.data, 56 * 100 * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(o.sky.data(), sky.data, 56 * 100));
}

using da3::pipeline::Vec3;

// y = s R x + t for a known similarity.
std::vector<Vec3> transformed(const std::vector<Vec3>& x, double s, const std::array<double, 9>& R, const Vec3& t) {
  std::vector<Vec3> y;
  for (const Vec3& p : x) {
    Vec3 q;
    for (int i = 0; i < 3; ++i) q[i] = s * (R[i * 3] * p[0] + R[i * 3 + 1] * p[1] + R[i * 3 + 2] * p[2]) + t[i];
    y.push_back(q);
  }
  return y;
}

const std::array<double, 9> kRot = {0.36, 0.48, -0.8, -0.8, 0.6, 0.0, 0.48, 0.64, 0.6};  // a rotation

TEST(PipelinePoseAlignment, UmeyamaRecoversAKnownSimilarity) {
  const std::vector<Vec3> x = {{0, 0, 0}, {1, 0, 0}, {0, 2, 0}, {0, 0, 3}, {1, 1, 1}};
  const auto y = transformed(x, 2.5, kRot, {1, -2, 3});
  const auto m = da3::pipeline::umeyama(x, y);
  EXPECT_NEAR(m.s, 2.5, 1e-12);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(m.R[i], kRot[i], 1e-12);
  EXPECT_NEAR(m.t[1], -2.0, 1e-12);
  // Three points are enough (planar); two are not, as in the reference.
  EXPECT_NEAR(da3::pipeline::umeyama({x[0], x[1], x[2]}, {y[0], y[1], y[2]}).s, 2.5, 1e-12);
  try {
    da3::pipeline::umeyama({x[0], x[1]}, {y[0], y[1]});
    FAIL() << "two camera centres cannot fix a similarity";
  } catch (const da3::Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 3 views"), std::string::npos) << e.what();
  }
}

TEST(PipelinePoseAlignment, RansacIgnoresAnOutlierView) {
  std::vector<Vec3> x;
  for (int i = 0; i < 12; ++i) x.push_back({std::cos(i * 0.5) * 3, std::sin(i * 0.5) * 3, 0.2 * i});
  auto y = transformed(x, 0.5, kRot, {0, 1, 0});
  y[4] = {40, -30, 20};  // one wildly wrong pose
  const auto plain = da3::pipeline::align_camera_centres(y, x, false, 42);
  const auto robust = da3::pipeline::align_camera_centres(y, x, true, 42);
  EXPECT_GT(std::fabs(plain.s - 0.5), 0.05) << "the outlier must matter without RANSAC";
  EXPECT_NEAR(robust.s, 0.5, 1e-9);
}

TEST(PipelinePoseAlignment, NormalisedInputPosesAreRelativeToViewZeroWithMedianDistanceOne) {
  da3::Tensor e = da3::Tensor::zeros({1, 3, 4, 4});
  float* p = e.data_as<float>();
  for (int v = 0; v < 3; ++v) {
    p[v * 16 + 0] = p[v * 16 + 5] = p[v * 16 + 10] = p[v * 16 + 15] = 1;
    p[v * 16 + 3] = float(2 * v + 1);  // centres at x = -1, -3, -5
  }
  const da3::Tensor n = da3::normalize_input_extrinsics(e);
  const float* q = n.data_as<float>();
  EXPECT_FLOAT_EQ(q[3], 0.f) << "view 0 becomes the identity";
  EXPECT_FLOAT_EQ(q[16 + 3], 2.f / 2.f) << "distances 0, 2, 4: median 2";
  EXPECT_FLOAT_EQ(q[32 + 3], 4.f / 2.f);
}

}  // namespace
