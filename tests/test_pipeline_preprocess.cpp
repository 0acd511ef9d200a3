// Preprocessing against the reference InputProcessor (tests/fixtures/pipeline, written by
// tools/reference/make_pipeline_fixtures.py): decoding, size arithmetic, intrinsics,
// normalisation and the processed pixels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"
#include "pipeline/normalize.hpp"
#include "test_util.hpp"

namespace {

using nlohmann::json;

std::string fx_dir() { return da3::test::fixtures_dir() + "/pipeline"; }

const json& fixture() {
  static const json doc = [] {
    std::ifstream f(fx_dir() + "/preprocess.json");
    EXPECT_TRUE(f.good()) << "missing " << fx_dir() << "/preprocess.json";
    return json::parse(f);
  }();
  return doc;
}

// (N, r, c) f32 tensor from nested JSON lists.
da3::Tensor matrices(const json& j) {
  const int64_t n = j.size(), r = j[0].size(), c = j[0][0].size();
  da3::Tensor t = da3::Tensor::empty({n, r, c});
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < r; ++a)
      for (int64_t b = 0; b < c; ++b) *p++ = j[i][a][b].get<float>();
  return t;
}

TEST(PipelinePreprocess, DecodingMatchesPillow) {
  // The reference reads images with PIL (.convert("RGB")); we read them with Debian's OpenCV.
  for (const auto& [name, want] : fixture()["decode"].items()) {
    const da3::RgbImage img = da3::load_image(fx_dir() + "/images/" + name);
    EXPECT_EQ(img.width, want["width"].get<int>()) << name;
    EXPECT_EQ(img.height, want["height"].get<int>()) << name;
    EXPECT_EQ(da3::io::crc32(img.rgb.data(), img.rgb.size()), want["crc32"].get<uint32_t>())
        << name << ": OpenCV's RGB decoding differs from PIL's";
  }
}

TEST(PipelinePreprocess, NormalisationTablesMatchTorchvisionBitForBit) {
  const auto& t = da3::pipeline::normalize_tables();
  const json& n = fixture()["normalize"];
  int norm_diff = 0, back_diff = 0;
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) {
      norm_diff += t.normalized[c][v] != n["normalized"][c][v].get<float>();
      back_diff += t.round_trip[c][v] != n["round_trip"][c][v].get<int>();
    }
  EXPECT_EQ(norm_diff, 0) << "normalised values differing from torchvision's";
  EXPECT_EQ(back_diff, 0) << "processed_images levels differing from api.py's round trip";
  // The round trip really does lower some levels (so copying the raw pixels would be wrong).
  int lowered = 0;
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lowered += t.round_trip[c][v] != v;
  EXPECT_GT(lowered, 0);
}

TEST(PipelinePreprocess, SizeAndIntrinsicsArithmeticMatchesReference) {
  int checked_k = 0;
  for (const json& row : fixture()["geometry"]) {
    const int w = row["width"], h = row["height"], res = row["process_res"];
    const da3::ResizeMethod m = da3::parse_resize_method(row["method"]);
    const std::string what = std::to_string(w) + "x" + std::to_string(h) + " " + row["method"].get<std::string>() +
                             " " + std::to_string(res);
    const da3::ProcessedSize s = da3::processed_size(w, h, res, m);
    EXPECT_EQ(s.width, row["out_width"].get<int>()) << what;
    EXPECT_EQ(s.height, row["out_height"].get<int>()) << what;
    // Intrinsics through the real preprocess() on a flat image, where we accept the size.
    if (s.width < 14 || s.height < 14 || int64_t(s.width) * s.height > 16 * int64_t(res) * res) continue;
    da3::RgbImage img;
    img.width = w;
    img.height = h;
    img.rgb.assign(size_t(w) * h * 3, 128);
    da3::PreprocessOptions o;
    o.process_res = res;
    o.method = m;
    da3::CameraInputs cams;
    cams.intrinsics = matrices(json::array({row["intrinsics_in"]}));
    const da3::PreprocessedBatch b = da3::preprocess(std::vector<da3::RgbImage>{img}, o, cams);
    ASSERT_EQ(b.image.shape(), (da3::Shape{1, 1, 3, s.height, s.width})) << what;
    const float* k = b.intrinsics.data_as<float>();
    for (int i = 0; i < 9; ++i) {
      const double want = row["intrinsics_out"][i / 3][i % 3].get<double>();
      EXPECT_NEAR(k[i], want, 1e-6 * std::max(1.0, std::fabs(want))) << what << " K[" << i << "]";
    }
    ++checked_k;
  }
  EXPECT_GT(checked_k, 100);
}

TEST(PipelinePreprocess, ProcessedImagesWithinOneLevelOfReference) {
  const auto& lut = da3::pipeline::normalize_tables();
  for (const json& c : fixture()["cases"]) {
    const std::string name = c["name"];
    std::vector<std::string> paths;
    for (const auto& f : c["images"]) paths.push_back(fx_dir() + "/images/" + f.get<std::string>());
    da3::PreprocessOptions o;
    o.process_res = c["process_res"];
    o.method = da3::parse_resize_method(c["method"]);
    da3::CameraInputs cams;
    cams.intrinsics = matrices(c["intrinsics_in"]);
    cams.extrinsics = matrices(c["extrinsics_in"]);
    const da3::PreprocessedBatch b = da3::preprocess(paths, o, cams);
    const int64_t n = paths.size(), H = c["height"], W = c["width"];
    ASSERT_EQ(b.image.shape(), (da3::Shape{1, n, 3, H, W})) << name;
    ASSERT_EQ(b.processed_images.shape(), (da3::Shape{n, H, W, 3})) << name;

    const float* k = b.intrinsics.data_as<float>();
    const float* e = b.extrinsics.data_as<float>();
    for (int64_t v = 0; v < n; ++v)
      for (int i = 0; i < 9; ++i) {
        const double want = c["intrinsics_out"][v][i / 3][i % 3];
        EXPECT_NEAR(k[v * 9 + i], want, 1e-6 * std::max(1.0, std::fabs(want))) << name << " view " << v;
      }
    for (int64_t v = 0; v < n; ++v)
      for (int i = 0; i < 16; ++i) EXPECT_EQ(e[v * 16 + i], c["extrinsics_out"][v][i / 4][i % 4].get<float>()) << name;

    // Our level for each normalised value, to read the levels back out of the tensor.
    std::map<float, int> level_of[3];
    for (int ch = 0; ch < 3; ++ch)
      for (int l = 0; l < 256; ++l) level_of[ch][lut.normalized[ch][l]] = l;
    const float* x = b.image.data_as<float>();
    const uint8_t* u8 = b.processed_images.data_as<uint8_t>();
    for (int64_t v = 0; v < n; ++v) {
      const cv::Mat want = cv::imread(fx_dir() + "/expected/" + c["expected"][v].get<std::string>(), cv::IMREAD_COLOR);
      ASSERT_EQ(want.rows, H);
      ASSERT_EQ(want.cols, W);
      int64_t differ = 0;
      int worst = 0;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx)
          for (int ch = 0; ch < 3; ++ch) {
            const int ref = want.at<cv::Vec3b>(int(y), int(xx))[2 - ch];  // BGR
            const auto it = level_of[ch].find(x[((v * 3 + ch) * H + y) * W + xx]);
            ASSERT_NE(it, level_of[ch].end()) << name << ": a normalised value not in the table";
            const int ours = it->second;
            EXPECT_EQ(u8[((v * H + y) * W + xx) * 3 + ch], lut.round_trip[ch][ours]);
            const int d = std::abs(ours - ref);
            worst = std::max(worst, d);
            differ += d != 0;
          }
      const double frac = 100.0 * differ / double(H * W * 3);
      std::printf("[parity] %-8s view %lld %s %s -> %lldx%lld: max |diff| %d level, %lld of %lld values differ\n",
                  name.c_str(), (long long)v, c["method"].get<std::string>().c_str(),
                  c["images"][v].get<std::string>().c_str(), (long long)W, (long long)H, worst, (long long)differ,
                  (long long)(H * W * 3));
      EXPECT_LE(worst, 1) << name << " view " << v;
      EXPECT_LT(frac, 0.01) << name << " view " << v << ": more than rounding ties differ";
    }
  }
}

TEST(PipelinePreprocess, ExifOrientationIsIgnoredLikePil) {
  // j_exif_rot is stored 56x42 with "rotate 90" in EXIF; PIL (and so the reference) ignores it.
  const da3::RgbImage img = da3::load_image(fx_dir() + "/images/j_exif_rot_56x42.jpg");
  EXPECT_EQ(img.width, 56);
  EXPECT_EQ(img.height, 42);
}

TEST(PipelinePreprocess, CollectsFilesDirectoriesAndGlobsInOrder) {
  const std::string d = fx_dir() + "/images";
  const auto all = da3::collect_image_paths({d});
  ASSERT_EQ(all.size(), fixture()["decode"].size());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  const auto some = da3::collect_image_paths({d + "/c_port_210x300.jpg", d + "/a_*.jpg"});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0], d + "/c_port_210x300.jpg");
  EXPECT_EQ(some[1], d + "/a_land_640x420.jpg");
}

TEST(PipelinePreprocess, ParallelAndSerialGiveTheSameBatch) {
  const std::string d = fx_dir() + "/images/";
  const std::vector<std::string> paths = {d + "e_gray_56x42.png", d + "g_bmp_56x42.bmp", d + "i_webp_56x42.webp"};
  da3::PreprocessOptions o;
  o.process_res = 112;
  o.threads = 1;
  const auto serial = da3::preprocess(paths, o);
  o.threads = 3;
  const auto parallel = da3::preprocess(paths, o);
  EXPECT_EQ(da3::test::rel_err(serial.image, parallel.image), 0.0);
  ASSERT_EQ(parallel.views.size(), 3u);
  EXPECT_EQ(parallel.views[1].source, paths[1]);
}

TEST(PipelinePreprocess, ViewInfoDescribesTheCrop) {
  // 640x420 by lower_bound_crop at 280: 427x280 after resizing, centre-cropped to 420x280.
  da3::PreprocessOptions o;
  o.process_res = 280;
  o.method = da3::ResizeMethod::LowerBoundCrop;
  const auto b = da3::preprocess({fx_dir() + "/images/a_land_640x420.jpg"}, o);
  const da3::ViewInfo& v = b.views[0];
  EXPECT_EQ(v.orig_width, 640);
  EXPECT_EQ(v.resized_width, 427);
  EXPECT_EQ(v.resized_height, 280);
  EXPECT_EQ(v.crop_x, 3);
  EXPECT_EQ(v.width, 420);
  EXPECT_EQ(v.height, 280);
}

}  // namespace
