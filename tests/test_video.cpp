// `da3 video` and the frame sampler: which frames are taken at a given --fps, that they run as
// one scene or in chunks through the same path as `da3 infer`, and one clear error per bad input.
// The test writes its own videos (MJPG in AVI: Debian's OpenCV writes it with FFmpeg).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "da3/error.hpp"
#include "io/npz.hpp"
#include "pipeline/video_frames.hpp"
#include "test_util.hpp"

namespace {

using da3::test::CliRun;

CliRun run_da3(const std::string& args) { return da3::test::run_cli(args); }

// `frames` frames of 64x48 at `fps`; frame i is a flat grey of level 20*i (+ a bright square
// that moves, so the views differ in structure too), which identifies it after MJPG coding.
std::string write_video(const da3::test::TempDir& d, const std::string& name, int frames, double fps) {
  const std::string path = d.file(name);
  cv::VideoWriter w(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(64, 48));
  if (!w.isOpened()) return "";
  for (int i = 0; i < frames; ++i) {
    cv::Mat m(48, 64, CV_8UC3, cv::Scalar::all(20 * i));
    m(cv::Rect(4 + 4 * i, 10, 12, 12)).setTo(cv::Scalar(255, 255, 255));
    w.write(m);
  }
  w.release();
  return path;
}

// The level of the frame's corner pixel (R of RGB), away from the moving square.
int corner_level(const da3::RgbImage& f) { return f.rgb[(size_t(f.height - 2) * f.width + 1) * 3]; }

}  // namespace

TEST(Video, SamplesTheFirstFrameOfEachInterval) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 10, 10.0);
  ASSERT_FALSE(v.empty()) << "OpenCV cannot write MJPG/AVI here";
  struct Case {
    double fps;
    std::vector<int> frames;
  };
  for (const Case& c : {Case{5, {0, 2, 4, 6, 8}}, Case{3, {0, 4, 7}}, Case{2.5, {0, 4, 8}}, Case{100, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}}) {
    da3::VideoFrameSampler s(v, c.fps);
    EXPECT_DOUBLE_EQ(s.properties().fps, 10.0);
    std::vector<int> levels;
    da3::RgbImage f;
    std::vector<std::string> names;
    while (s.next(f)) {
      ASSERT_EQ(f.width, 64);
      ASSERT_EQ(f.height, 48);
      ASSERT_EQ(f.rgb.size(), size_t(64 * 48 * 3));
      levels.push_back(corner_level(f));
      names.push_back(f.name);
    }
    ASSERT_EQ(levels.size(), c.frames.size()) << "fps " << c.fps;
    for (size_t k = 0; k < levels.size(); ++k) {
      EXPECT_NEAR(levels[k], 20 * c.frames[k], 4) << "fps " << c.fps << " sample " << k;
      char want[32];
      std::snprintf(want, sizeof want, "clip_frame%06d", c.frames[k]);
      EXPECT_EQ(names[k], want);
    }
    EXPECT_EQ(s.frames_decoded(), 10);
  }
}

TEST(Video, RefusesBadInputsBeforeDecoding) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 3, 10.0);
  ASSERT_FALSE(v.empty());
  auto message = [](const std::string& path, double fps) -> std::string {
    try {
      da3::VideoFrameSampler s(path, fps);
    } catch (const da3::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message(d.file("missing.mp4"), 1).find("does not exist"), std::string::npos);
  EXPECT_NE(message(d.path().string(), 1).find("is a directory"), std::string::npos);
  std::ofstream(d.file("empty.mp4")).close();
  EXPECT_NE(message(d.file("empty.mp4"), 1).find("is empty"), std::string::npos);
  std::ofstream(d.file("notes.avi")) << "these are not frames\n";
  EXPECT_NE(message(d.file("notes.avi"), 1).find("is not a video"), std::string::npos);
  const std::string png = std::string(DA3_FIXTURES_DIR) + "/pipeline/images/d_land_300x190.png";
  EXPECT_NE(message(png, 1).find("not a video; use `da3 infer`"), std::string::npos) << message(png, 1);
  for (double bad : {0.0, -2.0, double(NAN), double(INFINITY)})
    EXPECT_NE(message(v, bad).find("--fps must be a positive number"), std::string::npos) << bad;
}

TEST(Video, CliRunsFramesAsOneSceneOrInChunks) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 10, 10.0);
  ASSERT_FALSE(v.empty());
  const std::string model = " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 ";
  CliRun r = run_da3("video " + v + model + "--fps 5 -o " + d.file("one"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto z = da3::io::read_npz(d.file("one/results.npz"));
  EXPECT_EQ(z.at("depth").size(0), 5);
  EXPECT_EQ(z.at("extrinsics").size(0), 5);

  r = run_da3("video " + v + model + "--fps 5 --chunk 2 -f npz,colmap -o " + d.file("chunks"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const int64_t want[] = {2, 2, 1};  // 5 frames in chunks of 2
  for (int c = 0; c < 3; ++c) {
    const std::string dir = d.file("chunks/chunk_000" + std::to_string(c));
    EXPECT_EQ(da3::io::read_npz(dir + "/results.npz").at("depth").size(0), want[c]) << dir;
  }
  EXPECT_FALSE(std::filesystem::exists(d.file("chunks/chunk_0003")));
  // Frames are named after the video and their index, e.g. in the COLMAP image list.
  std::ifstream images(d.file("chunks/chunk_0001/colmap/text/images.txt"));
  const std::string text((std::istreambuf_iterator<char>(images)), {});
  EXPECT_NE(text.find("clip_frame000004"), std::string::npos);
}

// Issue 18, item 4: a video run writes the frames it ran on (input_images/, as the official CLI
// does), and the COLMAP model and npz name those files: the folder goes straight into an SfM or
// splatting tool.
TEST(Video, CliWritesTheFramesItRanOnAndTheExportsNameThem) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 10, 10.0);
  ASSERT_FALSE(v.empty());
  CliRun r = run_da3("video " + v + " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 --fps 5 " +
                     "-f npz,colmap -o " + d.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto names = da3::io::npz_strings(da3::io::read_npz(d.file("out/results.npz")).at("source_names"), "names");
  ASSERT_EQ(names.size(), 5u);
  std::ifstream images(d.file("out/colmap/text/images.txt"));
  const std::string text((std::istreambuf_iterator<char>(images)), {});
  for (const std::string& name : names) {
    const std::string file = d.file("out/input_images/" + name);
    ASSERT_TRUE(std::filesystem::is_regular_file(file)) << file;
    const cv::Mat m = cv::imread(file, cv::IMREAD_COLOR);
    EXPECT_EQ(m.cols, 64);  // the frame at the video's size, not the processed one
    EXPECT_EQ(m.rows, 48);
    EXPECT_NE(text.find(" " + name + "\n"), std::string::npos) << name << " not in the COLMAP image list";
  }
  EXPECT_EQ(names[1], "clip_frame000002.png");
  // The manifest lists the frames, so --overwrite removes them with the rest.
  std::ifstream m(d.file("out/da3_manifest.json"));
  const std::string manifest((std::istreambuf_iterator<char>(m)), {});
  EXPECT_NE(manifest.find("input_images/clip_frame000008.png"), std::string::npos) << manifest;
}

// Issue 18, item 7: a chunked run is one run: its chunk folders are refused as a whole on a
// rerun, and --overwrite removes the chunk folders the new run does not write again.
TEST(Video, ChunkFoldersAreOneRunForOverwrite) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 6, 10.0);
  ASSERT_FALSE(v.empty());
  const std::string run = "video " + v + " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 --fps 10 -o " +
                          d.file("out");
  CliRun r = run_da3(run + " --chunk 2");
  ASSERT_EQ(r.rc, 0) << r.output;
  ASSERT_TRUE(std::filesystem::exists(d.file("out/chunk_0002/results.npz")));
  r = run_da3(run + " --chunk 3");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("holds the files of a previous run"), std::string::npos) << r.output;
  r = run_da3(run + " --chunk 3 --overwrite");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(da3::io::read_npz(d.file("out/chunk_0001/results.npz")).at("depth").size(0), 3);
  EXPECT_FALSE(std::filesystem::exists(d.file("out/chunk_0002")));
}

// Issue 18, item 1: `da3 auto` on a video file runs `da3 video`, with its --fps and --chunk.
TEST(Video, AutoRunsAVideoFileAsDa3Video) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 10, 10.0);
  ASSERT_FALSE(v.empty());
  const CliRun r = run_da3("auto " + v + " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 --fps 5 " +
                           "--chunk 3 -o " + d.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("-> da3 video"), std::string::npos) << r.output;
  EXPECT_EQ(da3::io::read_npz(d.file("out/chunk_0000/results.npz")).at("depth").size(0), 3);
  EXPECT_EQ(da3::io::read_npz(d.file("out/chunk_0001/results.npz")).at("depth").size(0), 2);
}

// Issue 18, item 3: feat_vis of a video's frames is also a video (one per feature layer).
TEST(Video, FeatVisOfAVideoIsAVideo) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 10, 10.0);
  ASSERT_FALSE(v.empty());
  const CliRun r = run_da3("video " + v + " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 --fps 5 " +
                           "-f feat_vis --export-feat 4 --feat-vis-fps 5 -o " + d.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  cv::VideoCapture cap(d.file("out/feat_vis/feat_layer_4.avi"));
  ASSERT_TRUE(cap.isOpened());
  EXPECT_NEAR(cap.get(cv::CAP_PROP_FPS), 5.0, 1e-3);
  int frames = 0;
  cv::Mat m, first;
  while (cap.read(m)) {
    EXPECT_EQ(m.cols, 112);  // the 56x42 frame beside its 56x42 PCA picture
    EXPECT_EQ(m.rows, 42);
    if (frames++ == 0) first = m.clone();
  }
  EXPECT_EQ(frames, 5);
  // The video's frames are the PNGs written beside it (uncompressed: identical).
  const cv::Mat png = cv::imread(d.file("out/feat_vis/feat_layer_4/0000_clip_frame000000.png"), cv::IMREAD_COLOR);
  ASSERT_FALSE(png.empty());
  EXPECT_EQ(cv::norm(first, png, cv::NORM_INF), 0.0);
}

TEST(Video, CliFailsWithOneClearLine) {
  da3::test::TempDir d;
  const std::string v = write_video(d, "clip.avi", 3, 10.0);
  ASSERT_FALSE(v.empty());
  {  // opened and closed without a frame: a valid container holding nothing
    cv::VideoWriter w(d.file("none.avi"), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
    ASSERT_TRUE(w.isOpened());
  }
  std::ofstream(d.file("notes.mp4")) << "not a video";
  const std::string model = " -m " + da3::test::fixtures_dir() + "/tiny-anyview -o " + d.file("out");
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"video " + d.file("missing.avi") + model, "does not exist"},
                        Case{"video " + d.file("notes.mp4") + model, "is not a video da3 can read"},
                        Case{"video " + d.file("none.avi") + model, "has no frame that could be decoded"},
                        Case{"video " + v + model + " --fps 0", "--fps must be a positive number"},
                        Case{"video " + v + model + " --fps -3", "--fps must be a positive number"},
                        Case{"video " + v + model + " --chunk -1", "--chunk must be a positive number"},
                        Case{"video " + v + model + " -f npz,obj", "unknown export format 'obj'"},
                        Case{"video " + v + " -m " + d.file("no-model") + " -o " + d.file("out"), "no-model"}}) {
    const CliRun r = run_da3(c.args);
    EXPECT_EQ(r.rc, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("da3: error: "), std::string::npos) << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(d.file("out/results.npz")));
}
