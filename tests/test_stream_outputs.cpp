// What a stream writes (src/pipeline/stream/stream_outputs.hpp), resuming an interrupted
// stream, the voxel grid, and the natural order of image sequences.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "da3/error.hpp"
#include "io/npz.hpp"
#include "pipeline/stream/image_sequence.hpp"
#include "pipeline/stream/stream_outputs.hpp"
#include "stream_synthetic_scene.hpp"
#include "test_util.hpp"

namespace da3 {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

stream::StreamOutputOptions output_options() {
  stream::StreamOutputOptions o;
  o.ply = o.glb = o.colmap = true;
  o.window = 16;
  o.overlap = 4;
  o.fingerprint = "synthetic n=60 window=16 overlap=4";
  return o;
}

stream::StreamOptions stream_options() {
  stream::StreamOptions o;
  o.window = 16;
  o.overlap = 4;
  return o;
}

test::SyntheticNoise some_noise() {
  test::SyntheticNoise n;
  n.depth_rel = 0.01;
  n.wrong_pixels = 0.05;
  n.centre = 0.003;
  n.rotation_deg = 0.03;
  return n;
}

// A stream of n frames into `dir`; `fail_at_call` interrupts it (the predictor throws).
void run_to(const std::string& dir, int64_t n, int fail_at_call = -1) {
  test::SyntheticPredictor predictor(test::SyntheticScene{}, some_noise(), 5);
  predictor.fail_at_call = fail_at_call;
  stream::StreamOutputs out(dir, output_options());
  stream::StreamReconstructor s(stream_options(), predictor, out);
  for (int64_t i = 0; i < n; ++i) s.push(test::synthetic_frame(i), 0.5 * double(i));
  s.finish();
  out.finish();
}

json read_json(const std::string& p) {
  std::ifstream in(p);
  return json::parse(in);
}

TEST(StreamOutputs, LayoutAndContents) {
  test::TempDir tmp;
  const std::string dir = tmp.file("out");
  run_to(dir, 60);
  const json traj = read_json(dir + "/trajectory.json");
  ASSERT_EQ(traj.at("frames").size(), 60u);
  // Windows every 12 frames: 0, 12, 24, 36, 48 (the last holds 48..59).
  EXPECT_EQ(traj.at("windows").size(), 5u);
  for (int64_t i = 0; i < 60; ++i) {
    const json& f = traj.at("frames").at(size_t(i));
    EXPECT_EQ(f.at("index").get<int64_t>(), i);
    EXPECT_DOUBLE_EQ(f.at("timestamp").get<double>(), 0.5 * double(i));
    const std::string stem = stream::frame_stem(i);
    ASSERT_TRUE(fs::is_regular_file(dir + "/frames/" + stem + ".jpg")) << stem;
    const auto z = io::read_npz(dir + "/depth/" + stem + ".npz");
    ASSERT_EQ(z.at("depth").shape(), (Shape{24, 32}));
    ASSERT_EQ(z.at("conf").shape(), (Shape{24, 32}));
    ASSERT_EQ(z.at("extrinsics").shape(), (Shape{3, 4}));
    ASSERT_EQ(z.at("intrinsics").shape(), (Shape{3, 3}));
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c)
        EXPECT_NEAR(z.at("extrinsics").data_as<float>()[r * 4 + c], f.at("extrinsics")[r][c].get<double>(), 1e-6);
  }
  // Frame 0 is the world frame.
  const auto z0 = io::read_npz(dir + "/depth/000000.npz");
  const float I[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  for (int k = 0; k < 12; ++k) EXPECT_EQ(z0.at("extrinsics").data_as<float>()[k], I[k]);
  // The fused cloud: fewer points than confident pixels (voxels merge them), more than none.
  std::ifstream ply(dir + "/points.ply", std::ios::binary);
  std::string line;
  int64_t vertices = -1;
  while (std::getline(ply, line) && line != "end_header")
    if (line.rfind("element vertex ", 0) == 0) vertices = std::stoll(line.substr(15));
  EXPECT_GT(vertices, 1000);
  EXPECT_LT(vertices, 60 * 24 * 32 * 6 / 10);
  EXPECT_TRUE(fs::is_regular_file(dir + "/scene.glb"));
  // COLMAP names the files in frames/.
  EXPECT_TRUE(fs::is_regular_file(dir + "/colmap/sparse/0/images.bin"));
  std::ifstream images(dir + "/colmap/text/images.txt");
  const std::string text((std::istreambuf_iterator<char>(images)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(" 000000.jpg"), std::string::npos);
  EXPECT_NE(text.find(" 000059.jpg"), std::string::npos);
  // A second stream into the same directory is refused, pointing at --resume.
  try {
    stream::StreamOutputs again(dir, output_options());
    FAIL() << "a second stream was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos);
  }
}

// An interrupted stream resumed from its last finished window ends as the uninterrupted one.
TEST(StreamOutputs, ResumeContinuesFromTheLastFinishedWindow) {
  test::TempDir tmp;
  const std::string whole = tmp.file("whole"), cut = tmp.file("cut");
  run_to(whole, 60);
  EXPECT_THROW(run_to(cut, 60, 4), Error);  // dies in the 4th window
  ASSERT_FALSE(fs::exists(cut + "/trajectory.json"));

  stream::StreamResumePoint point;
  auto out = stream::StreamOutputs::resume(cut, output_options(), point);
  EXPECT_EQ(point.windows_done, 3);
  EXPECT_EQ(point.frames_final, 40);  // windows 0..2 end at frame 39
  ASSERT_EQ(point.anchor.size(), 4u);
  EXPECT_EQ(point.anchor.front().index, 36);
  test::SyntheticPredictor predictor(test::SyntheticScene{}, some_noise(), 5);
  stream::StreamReconstructor s(stream_options(), predictor, *out);
  const int64_t first = point.anchor.front().index;
  s.resume(std::move(point.anchor), point.windows_done);
  for (int64_t i = first; i < 60; ++i) s.push(test::synthetic_frame(i), 0.5 * double(i));
  s.finish();
  out->finish();
  EXPECT_EQ(predictor.calls, 2);  // only the windows that were missing

  const json a = read_json(whole + "/trajectory.json"), b = read_json(cut + "/trajectory.json");
  ASSERT_EQ(a.at("frames").size(), b.at("frames").size());
  ASSERT_EQ(a.at("windows").size(), b.at("windows").size());
  double worst = 0;
  for (size_t i = 0; i < a.at("frames").size(); ++i)
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c)
        worst = std::max(worst, std::fabs(a["frames"][i]["extrinsics"][r][c].get<double>() -
                                          b["frames"][i]["extrinsics"][r][c].get<double>()));
  // Not bit-identical: the resumed run aligns to the float32 depth/*.npz of the anchor frames.
  EXPECT_LT(worst, 1e-4);
  // A finished stream says so; other settings are refused.
  stream::StreamResumePoint done;
  stream::StreamOutputs::resume(cut, output_options(), done);
  EXPECT_TRUE(done.finished);
  auto other = output_options();
  other.fingerprint = "something else";
  EXPECT_THROW(stream::StreamOutputs::resume(cut, other, done), Error);
  EXPECT_THROW(stream::StreamOutputs::resume(tmp.file("empty"), output_options(), done), Error);
}

TEST(StreamOutputs, VoxelGridMergesAndRoundTrips) {
  stream::StreamFrame f;
  f.width = 4;
  f.height = 2;
  f.depth.assign(8, 2.f);
  f.conf = {1, 1, 1, 1, 5, 5, 5, 5};
  f.rgb.assign(24, 100);
  f.w2c = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  f.K = {1000, 0, -10, 0, 1000, -10, 0, 0, 1};  // pixels 2 mm apart at depth 2, all at x, y > 0
  stream::VoxelGrid g(0.1);
  g.add_frame(f, 0);  // every pixel, all in one 10 cm voxel, at the confidence-weighted mean
  ASSERT_EQ(g.size(), 1u);
  // rows 0 and 1 at y = 2 (10 + row) / 1000, weighted 1 and 5: 2 (10 + 5/6) / 1000
  EXPECT_NEAR(g.points()[0].xyz[1], 2 * (10 + 5.0 / 6) / 1000, 1e-6);
  EXPECT_EQ(g.points()[0].py, 1);  // the most confident pixel is the observation kept
  // Far from the origin the mean is as precise (sums are kept relative to the voxel).
  stream::StreamFrame far = f;
  far.w2c = {1, 0, 0, -1000, 0, 1, 0, -1000, 0, 0, 1, -1000};  // camera centre at (1000, 1000, 1000)
  stream::VoxelGrid gf(0.1);
  gf.add_frame(far, 0);
  ASSERT_EQ(gf.size(), 1u);
  EXPECT_NEAR(gf.points()[0].xyz[1], 1000 + 2 * (10 + 5.0 / 6) / 1000, 1.2e-4);  // float32 at 1000: 6e-5
  stream::VoxelGrid h(0.0005);
  h.add_frame(f, 50);  // the confident half only, each its own voxel
  EXPECT_EQ(h.size(), 4u);
  for (const auto& p : h.points()) EXPECT_EQ(p.py, 1);
  test::TempDir tmp;
  h.save(tmp.file("v.bin"));
  const stream::VoxelGrid r = stream::VoxelGrid::load(tmp.file("v.bin"));
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(r.points()[2].xyz[0], h.points()[2].xyz[0]);
  std::ofstream(tmp.file("bad.bin")) << "not a grid";
  EXPECT_THROW(stream::VoxelGrid::load(tmp.file("bad.bin")), Error);
  EXPECT_THROW(stream::VoxelGrid(0), Error);
}

TEST(StreamOutputs, ImageSequencesSortNaturally) {
  EXPECT_TRUE(stream::natural_less("frame_2.png", "frame_10.png"));
  EXPECT_FALSE(stream::natural_less("frame_10.png", "frame_2.png"));
  EXPECT_TRUE(stream::natural_less("a9b", "a10a"));
  EXPECT_TRUE(stream::natural_less("img7", "img007"));  // equal value: fewer digits first
  EXPECT_TRUE(stream::natural_less("x1", "x1a"));
  EXPECT_FALSE(stream::natural_less("same", "same"));
  test::TempDir tmp;
  for (const char* n : {"frame_10.png", "frame_2.png", "frame_1.png", "frame_100.png"}) std::ofstream(tmp.file(n)) << "x";
  const auto seq = stream::collect_image_sequence({tmp.path().string()});
  ASSERT_EQ(seq.size(), 4u);
  EXPECT_EQ(fs::path(seq[0]).filename(), "frame_1.png");
  EXPECT_EQ(fs::path(seq[1]).filename(), "frame_2.png");
  EXPECT_EQ(fs::path(seq[2]).filename(), "frame_10.png");
  EXPECT_EQ(fs::path(seq[3]).filename(), "frame_100.png");
}

}  // namespace
}  // namespace da3
