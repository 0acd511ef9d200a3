// Issue 14 (hardening), defect 2: JPEGs that libjpeg decodes by buffering every DCT coefficient
// of the whole image (progressive, multi-scan) are bounded by their declared size before any
// decoding, since DCT scaling does not shrink that buffer.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/image_header.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

std::vector<uint8_t> encode_jpeg(int w, int h, bool progressive) {
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, 0, 255);
  std::vector<uint8_t> out;
  cv::imencode(".jpg", m, out, {cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0});
  return out;
}

std::string save(const test::TempDir& t, const std::string& name, const std::vector<uint8_t>& b) {
  const std::string p = t.file(name);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  return p;
}

}  // namespace

TEST(HardeningImage, HeaderTellsProgressiveFromBaseline) {
  const auto p = encode_jpeg(64, 48, true), b = encode_jpeg(64, 48, false);
  const io::ImageHeader hp = io::read_image_header(p.data(), p.size());
  const io::ImageHeader hb = io::read_image_header(b.data(), b.size());
  EXPECT_TRUE(hp.jpeg_progressive);
  EXPECT_FALSE(hb.jpeg_progressive);
  EXPECT_FALSE(hb.jpeg_multiscan);
  EXPECT_EQ(hp.jpeg_components, 3);
  EXPECT_EQ(hp.width, 64);
  EXPECT_EQ(hp.height, 48);
}

TEST(HardeningImage, ProgressiveJpegAboveTheLimitIsRefusedBaselineIsNot) {
  test::TempDir t;
  const std::string prog = save(t, "p.jpg", encode_jpeg(64, 48, true));
  const std::string base = save(t, "b.jpg", encode_jpeg(64, 48, false));
  ImageLimits limits;
  limits.max_multiscan_jpeg_pixels = 3000;  // below 64x48 = 3072
  try {
    load_image(prog, limits);
    FAIL() << "a progressive JPEG above the limit was decoded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("progressive JPEG of 64x48"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Re-encode it as a baseline JPEG"), std::string::npos) << msg;
  }
  EXPECT_EQ(load_image(base, limits).width, 64);  // baseline: decoded row by row, no such buffer
  limits.max_multiscan_jpeg_pixels = 3072;
  EXPECT_EQ(load_image(prog, limits).width, 64);
}

TEST(HardeningImage, LosslessOrHierarchicalJpegIsRefusedUpFront) {
  test::TempDir t;
  auto b = encode_jpeg(32, 32, false);
  // Rewrite the baseline SOF0 marker as SOF3 (lossless): libjpeg cannot decode that process.
  for (size_t i = 2; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xC0) {
      b[i + 1] = 0xC3;
      break;
    }
  const std::string p = save(t, "l.jpg", b);
  try {
    load_image(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lossless or hierarchical JPEG"), std::string::npos) << e.what();
  }
}
