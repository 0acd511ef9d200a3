// Every bad input the pipeline can be handed, with the message it must give.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"
#include "test_util.hpp"

namespace {

using da3::test::TempDir;

std::string images_dir() { return da3::test::fixtures_dir() + "/pipeline/images"; }

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs `fn`, expecting a da3::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << *parts.begin() << "'";
  } catch (const da3::Error& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "message: " << e.what();
  }
}

void be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

// A PNG whose header says width x height, with no image data after it.
std::vector<uint8_t> png_header_only(uint32_t width, uint32_t height) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  be32(b, 13);
  const size_t type_at = b.size();
  for (char c : std::string("IHDR")) b.push_back(uint8_t(c));
  be32(b, width);
  be32(b, height);
  for (uint8_t v : {8, 2, 0, 0, 0}) b.push_back(v);
  be32(b, da3::io::crc32(b.data() + type_at, b.size() - type_at));
  return b;
}

// A valid baseline greyscale JPEG of any size, built by hand: every 8x8 block is flat mid-grey,
// coded with one-bit Huffman codes (DC difference 0, end of block), so the entropy-coded data
// is 2 bits a block of zeros. 20000x20000 takes 1.5 MB here but 1.2 GB of RGB fully decoded.
std::vector<uint8_t> flat_grey_jpeg(uint16_t width, uint16_t height) {
  std::vector<uint8_t> b = {0xFF, 0xD8};
  auto seg = [&](uint8_t marker, const std::vector<uint8_t>& body) {
    b.push_back(0xFF);
    b.push_back(marker);
    b.push_back(uint8_t((body.size() + 2) >> 8));
    b.push_back(uint8_t(body.size() + 2));
    b.insert(b.end(), body.begin(), body.end());
  };
  std::vector<uint8_t> dqt = {0x00};
  dqt.resize(65, 1);
  seg(0xDB, dqt);
  seg(0xC0, {8, uint8_t(height >> 8), uint8_t(height), uint8_t(width >> 8), uint8_t(width), 1, 1, 0x11, 0});
  for (uint8_t table : {0x00, 0x10}) {  // DC table 0, AC table 0: one code of length 1 -> symbol 0
    std::vector<uint8_t> dht = {table, 1};
    dht.resize(17, 0);
    dht.push_back(0x00);
    seg(0xC4, dht);
  }
  seg(0xDA, {1, 1, 0x00, 0, 63, 0});
  const uint64_t blocks = uint64_t((width + 7) / 8) * ((height + 7) / 8);
  const uint64_t bits = blocks * 2;
  b.resize(b.size() + bits / 8, 0x00);
  if (bits % 8) b.push_back(uint8_t(0xFF >> (bits % 8)));  // pad the last byte with 1-bits
  b.push_back(0xFF);
  b.push_back(0xD9);
  return b;
}

long max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST(PipelineErrors, MissingFile) {
  expect_error([] { da3::load_image("/nonexistent/photo.jpg"); }, {"/nonexistent/photo.jpg", "does not exist"});
  expect_error([] { da3::preprocess({"/nonexistent/photo.jpg"}); }, {"does not exist"});
  expect_error([] { da3::collect_image_paths({"/nonexistent/photo.jpg"}); }, {"does not exist"});
}

TEST(PipelineErrors, DirectoryGivenAsImage) {
  expect_error([] { da3::load_image(images_dir()); }, {"is a directory"});
}

TEST(PipelineErrors, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: file permissions do not stop reads";
  TempDir t;
  write_bytes(t.file("locked.png"), read_bytes(images_dir() + "/e_gray_56x42.png"));
  std::filesystem::permissions(t.file("locked.png"), std::filesystem::perms::none);
  expect_error([&] { da3::load_image(t.file("locked.png")); }, {"cannot be read"});
}

TEST(PipelineErrors, ZeroByteFile) {
  TempDir t;
  write_bytes(t.file("empty.jpg"), {});
  expect_error([&] { da3::load_image(t.file("empty.jpg")); }, {"empty.jpg", "is empty (0 bytes)"});
}

TEST(PipelineErrors, NotAnImage) {
  TempDir t;
  write_bytes(t.file("notes.jpg"), {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  expect_error([&] { da3::load_image(t.file("notes.jpg")); }, {"not an image da3 can read", "JPEG, PNG"});
}

TEST(PipelineErrors, CorruptPng) {
  TempDir t;
  std::vector<uint8_t> b = read_bytes(images_dir() + "/d_land_300x190.png");
  for (size_t i = 100; i < b.size(); i += 7) b[i] ^= 0x5A;  // damage the compressed data
  write_bytes(t.file("bad.png"), b);
  expect_error([&] { da3::load_image(t.file("bad.png")); }, {"bad.png", "could not be decoded"});
}

TEST(PipelineErrors, TruncatedJpeg) {
  // libjpeg would decode this "successfully", greying out the missing part; we refuse it.
  TempDir t;
  std::vector<uint8_t> b = read_bytes(images_dir() + "/a_land_640x420.jpg");
  b.resize(b.size() / 2);
  write_bytes(t.file("cut.jpg"), b);
  expect_error([&] { da3::load_image(t.file("cut.jpg")); }, {"cut.jpg", "truncated"});
}

TEST(PipelineErrors, DirectoryWithoutImages) {
  TempDir t;
  write_bytes(t.file("readme.txt"), {'x'});
  expect_error([&] { da3::collect_image_paths({t.path().string()}); }, {"contains no images"});
  expect_error([&] { da3::collect_image_paths({t.path().string() + "/*.jpg"}); }, {"no file matches"});
  expect_error([] { da3::collect_image_paths({}); }, {"no input images"});
}

TEST(PipelineErrors, OnePixelImage) {
  TempDir t;
  std::vector<uint8_t> png;
  cv::imencode(".png", cv::Mat(1, 1, CV_8UC3, cv::Scalar(1, 2, 3)), png);
  write_bytes(t.file("dot.png"), png);
  expect_error([&] { da3::load_image(t.file("dot.png")); }, {"1x1 pixels", "at least 14 pixels on each side"});
  da3::RgbImage img{1, 1, {1, 2, 3}, "dot"};
  expect_error([&] { da3::preprocess(std::vector<da3::RgbImage>{img}); }, {"1x1", "at least 14"});
}

TEST(PipelineErrors, ExtremeAspectRatio) {
  da3::RgbImage strip{2000, 14, std::vector<uint8_t>(2000 * 14 * 3, 50), "strip"};
  expect_error([&] { da3::preprocess(std::vector<da3::RgbImage>{strip}); }, {"strip", "aspect ratio"});
  da3::PreprocessOptions o;
  o.method = da3::ResizeMethod::LowerBoundResize;  // 14 -> 504 makes the long side 72000
  expect_error([&] { da3::preprocess(std::vector<da3::RgbImage>{strip}, o); }, {"aspect ratio"});
}

TEST(PipelineErrors, HugePngHeaderIsRefusedBeforeDecoding) {
  TempDir t;
  write_bytes(t.file("huge.png"), png_header_only(20000, 20000));
  const long before = max_rss_mb();
  expect_error([&] { da3::load_image(t.file("huge.png")); }, {"20000x20000", "400.0 Mpx", "100.0 Mpx limit"});
  EXPECT_LT(max_rss_mb() - before, 100) << "the refusal must come before any pixel buffer";
}

TEST(PipelineErrors, HugeJpegIsDecodedReducedWithoutTheFullBuffer) {
  TempDir t;
  write_bytes(t.file("huge.jpg"), flat_grey_jpeg(20000, 20000));
  da3::ImageLimits limits;
  limits.max_decode_pixels = 10'000'000;  // so that the test itself stays small: 1/8 scale
  const long before = max_rss_mb();
  int scale = 0;
  const da3::RgbImage img = da3::load_image(t.file("huge.jpg"), limits, &scale);
  EXPECT_EQ(scale, 8);
  EXPECT_EQ(img.width, 2500);
  EXPECT_EQ(img.height, 2500);
  EXPECT_EQ(img.rgb[0], 128);
  EXPECT_LT(max_rss_mb() - before, 400) << "a full decode would need 1.2 GB";

  // Through preprocess: planned from the true size, so the processed size is the reference's.
  da3::PreprocessOptions o;
  o.limits = limits;
  const auto b = da3::preprocess({t.file("huge.jpg")}, o);
  EXPECT_EQ(b.views[0].orig_width, 20000);
  EXPECT_EQ(b.views[0].decoded_scale, 8);
  EXPECT_EQ(b.image.shape(), (da3::Shape{1, 1, 3, 504, 504}));
}

TEST(PipelineErrors, CameraShapes) {
  const std::vector<std::string> two = {images_dir() + "/e_gray_56x42.png", images_dir() + "/f_rgba_56x42.png"};
  da3::PreprocessOptions o;
  o.process_res = 56;
  da3::CameraInputs c;
  c.intrinsics = da3::Tensor::zeros({2, 3, 4});
  expect_error([&] { da3::preprocess(two, o, c); }, {"intrinsics must be (N, 3, 3)", "N = 2", "[2, 3, 4]"});
  c.intrinsics = da3::Tensor::zeros({3, 3, 3});
  expect_error([&] { da3::preprocess(two, o, c); }, {"intrinsics", "N = 2", "[3, 3, 3]"});
  c.intrinsics = da3::Tensor::zeros({2, 3, 3});
  expect_error([&] { da3::preprocess(two, o, c); }, {"positive fx and fy"});
  c.intrinsics = da3::Tensor::full({2, 3, 3}, 10.f);
  c.extrinsics = da3::Tensor::zeros({2, 2, 4});
  expect_error([&] { da3::preprocess(two, o, c); }, {"extrinsics must be (N, 4, 4) or (N, 3, 4)", "[2, 2, 4]"});
  c.extrinsics = da3::Tensor::zeros({2, 4, 4});
  expect_error([&] { da3::preprocess(two, o, c); }, {"(0, 0, 0, 1)"});
  c.extrinsics = da3::Tensor::full({2, 3, 4}, NAN);
  expect_error([&] { da3::preprocess(two, o, c); }, {"non-finite"});
  da3::CameraInputs only_ext;
  only_ext.extrinsics = da3::Tensor::zeros({2, 3, 4});
  expect_error([&] { da3::preprocess(two, o, only_ext); }, {"without intrinsics"});
}

TEST(PipelineErrors, BadOptions) {
  expect_error([] { da3::parse_resize_method("bilinear"); }, {"unknown resize method 'bilinear'", "upper_bound_resize"});
  da3::PreprocessOptions o;
  o.process_res = 10;
  expect_error([&] { da3::preprocess({images_dir() + "/e_gray_56x42.png"}, o); }, {"process_res must be at least 14"});
  expect_error([] { da3::parse_export_formats("npz,obj"); }, {"unknown export format 'obj'", "glb"});
}

TEST(PipelineErrors, FirstFailingImageIsReportedWhateverTheThreadTiming) {
  TempDir t;
  write_bytes(t.file("empty.png"), {});
  const std::vector<std::string> paths = {images_dir() + "/e_gray_56x42.png", t.file("empty.png"), "/nonexistent.png"};
  da3::PreprocessOptions o;
  o.threads = 3;
  for (int i = 0; i < 5; ++i) expect_error([&] { da3::preprocess(paths, o); }, {"empty.png", "0 bytes"});
}

}  // namespace
