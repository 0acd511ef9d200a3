// `da3 video --stream` and `da3 infer --stream` end to end with the tiny random-weight any-view
// fixture: the plumbing (frames decoded one by one, windows through the real network, outputs,
// resume) and one clear error per bad argument. Motion accuracy is tested with a synthetic
// scene in test_stream_end_to_end.cpp: random weights say nothing about motion.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "io/npz.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using da3::test::CliRun;
using json = nlohmann::json;

// A frame of a camera panning over a textured plane: frame i is the texture shifted by 2i px.
cv::Mat pan_frame(int i) {
  cv::Mat m(48, 64, CV_8UC3);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) {
      const int u = x + 2 * i;
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t((u * 37) % 256), uint8_t((y * 23 + u * 5) % 256), uint8_t(((u / 8 + y / 8) % 2) * 200));
    }
  return m;
}

std::string write_video(const da3::test::TempDir& d, int frames) {
  const std::string path = d.file("clip.avi");
  cv::VideoWriter w(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
  if (!w.isOpened()) return "";
  for (int i = 0; i < frames; ++i) w.write(pan_frame(i));
  w.release();
  return path;
}

json read_json(const std::string& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// One thread: the tiny network's work is too small to share, and on a machine busy with other
// jobs OpenMP threads waiting on each other cost 5x the time.
CliRun run_da3(const std::string& args) { return da3::test::run_cli("-t 1 " + args); }

const std::string& model() {
  static const std::string m = " -m " + da3::test::fixtures_dir() + "/tiny-anyview --process-res 56 ";
  return m;
}

TEST(StreamCli, VideoStreamWritesEveryOutput) {
  da3::test::TempDir d;
  const std::string v = write_video(d, 20);
  ASSERT_FALSE(v.empty()) << "OpenCV cannot write MJPG/AVI here";
  const std::string out = d.file("out");
  const CliRun r = run_da3("video " + v + model() + "--stream --fps 100 --window 6 --overlap 2 -f ply,glb,colmap --max-points 500 -o " + out);
  ASSERT_EQ(r.rc, 0) << r.output;
  const json t = read_json(out + "/trajectory.json");
  ASSERT_EQ(t.at("frames").size(), 20u);
  EXPECT_EQ(t.at("windows").size(), 5u);  // starts 0, 4, 8, 12, 16 (window 6, overlap 2)
  for (size_t i = 0; i < 20; ++i) {
    const json& f = t["frames"][i];
    EXPECT_NEAR(f.at("timestamp").get<double>(), 0.1 * double(i), 1e-9);  // 10 fps video
    char stem[16];
    std::snprintf(stem, sizeof stem, "%06zu", i);
    EXPECT_TRUE(fs::is_regular_file(out + "/frames/" + stem + ".jpg"));
    const auto z = da3::io::read_npz(out + "/depth/" + stem + ".npz");
    EXPECT_EQ(z.at("depth").dim(), 2);
    EXPECT_EQ(z.at("depth").size(1), f.at("width").get<int64_t>());
    EXPECT_EQ(z.at("extrinsics").numel(), 12);
  }
  // The frames are the network's views: their size is the processed size.
  const cv::Mat first = cv::imread(out + "/frames/000000.jpg");
  EXPECT_EQ(first.cols, t["frames"][0].at("width").get<int>());
  EXPECT_EQ(first.rows, t["frames"][0].at("height").get<int>());
  // --max-points caps the fused cloud (the grid holds far more voxels than 500 here).
  std::ifstream ply(out + "/points.ply", std::ios::binary);
  std::string line;
  while (std::getline(ply, line) && line != "end_header")
    if (line.rfind("element vertex ", 0) == 0) EXPECT_EQ(line, "element vertex 500");
  EXPECT_TRUE(fs::is_regular_file(out + "/scene.glb"));
  EXPECT_TRUE(fs::is_regular_file(out + "/colmap/sparse/0/points3D.bin"));
  // Finished: --resume says so; a new stream into the same directory is refused.
  CliRun again = run_da3("video " + v + model() + "--stream --fps 100 --window 6 --overlap 2 -f ply,glb,colmap --max-points 500 --resume -o " + out);
  EXPECT_EQ(again.rc, 0) << again.output;
  EXPECT_NE(again.output.find("already complete"), std::string::npos) << again.output;
  again = run_da3("video " + v + model() + "--stream --fps 100 --window 6 --overlap 2 -o " + out);
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
  // Other settings are another stream.
  again = run_da3("video " + v + model() + "--stream --fps 100 --window 7 --overlap 2 -f ply,glb,colmap --resume -o " + out);
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.output.find("other inputs or settings"), std::string::npos) << again.output;
}

TEST(StreamCli, ImageSequenceRunsInNaturalOrder) {
  da3::test::TempDir d;
  fs::create_directories(d.file("seq"));
  for (int i = 1; i <= 11; ++i) cv::imwrite(d.file("seq/frame_" + std::to_string(i) + ".png"), pan_frame(i));
  const CliRun r = run_da3("infer " + d.file("seq") + model() + "--stream --window 5 --overlap 2 -q -o " + d.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const json t = read_json(d.file("out/trajectory.json"));
  ASSERT_EQ(t.at("frames").size(), 11u);
  for (int i = 0; i < 11; ++i) {
    EXPECT_EQ(fs::path(t["frames"][size_t(i)].at("source").get<std::string>()).filename().string(),
              "frame_" + std::to_string(i + 1) + ".png");
    EXPECT_TRUE(t["frames"][size_t(i)].at("timestamp").is_null());
  }
}

TEST(StreamCli, BadArgumentsAreOneClearLine) {
  da3::test::TempDir d;
  const std::string v = write_video(d, 4);
  ASSERT_FALSE(v.empty());
  struct Case {
    std::string args, says;
  };
  const Case cases[] = {
      {"video " + v + model() + "--stream --chunk 2", "--chunk and --stream"},
      {"video " + v + model() + "--stream -f depth_png", "not a stream output"},
      {"video " + v + model() + "--stream --window 4 --overlap 4", "must be below --window"},
      {"video " + v + model() + "--stream --resume -o " + d.file("nothing"), "nothing to resume"},
      {"video " + v + model() + "--resume", "add --stream"},
      {"infer " + v + model() + "--stream --views single", "--stream takes neither"},
  };
  for (const Case& c : cases) {
    const CliRun r = run_da3(c.args);
    EXPECT_EQ(r.rc, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  // Images of different sizes cannot be one stream.
  fs::create_directories(d.file("mixed"));
  cv::imwrite(d.file("mixed/a1.png"), pan_frame(0));
  cv::imwrite(d.file("mixed/a2.png"), cv::Mat(40, 64, CV_8UC3, cv::Scalar::all(90)));
  const CliRun r = run_da3("infer " + d.file("mixed") + model() + "--stream -o " + d.file("m"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("images of one size"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d.file("m")));  // failed before any frame was final: nothing written
  EXPECT_FALSE(fs::exists(d.file("nothing")));
}

}  // namespace

namespace {

// A kill (SIGTERM; a background job ignores SIGINT) in the middle of a stream, then --resume: the stream ends complete, every frame once,
// and nothing half-written is left behind.
TEST(StreamCli, InterruptedStreamResumes) {
  da3::test::TempDir d;
  const std::string v = write_video(d, 40);
  ASSERT_FALSE(v.empty());
  const std::string out = d.file("out");
  const std::string args = "video " + v + model() + "--stream --fps 100 --window 6 --overlap 2 -f ply -q -o " + out;
  // Interrupt once the state says two windows are final.
  const std::string script = std::string(DA3_CLI_PATH) + " -t 1 " + args + " & pid=$!; for i in $(seq 1 600); do "
                             "grep -q '\"windows_done\": [2-9]' " + out + "/.stream/state.json 2>/dev/null && break; "
                             "sleep 0.02; done; kill -TERM $pid; wait $pid; echo rc=$?";
  const da3::test::CliRun cut = da3::test::run_cli("--version", "");  // the CLI exists
  ASSERT_EQ(cut.rc, 0);
  FILE* p = ::popen(("bash -c '" + [&] {
                       std::string s;
                       for (char c : script) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
                       return s;
                     }() + "' 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  ::pclose(p);
  if (text.find("rc=0") != std::string::npos) GTEST_SKIP() << "the stream finished before the interrupt arrived: " << text;
  ASSERT_FALSE(fs::exists(out + "/trajectory.json")) << text;
  const json st = read_json(out + "/.stream/state.json");
  EXPECT_FALSE(st.at("finished").get<bool>());
  const da3::test::CliRun r = run_da3(args + " --resume");
  ASSERT_EQ(r.rc, 0) << r.output;
  const json t = read_json(out + "/trajectory.json");
  ASSERT_EQ(t.at("frames").size(), 40u);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(t["frames"][i].at("index").get<size_t>(), i);
  EXPECT_EQ(t.at("windows").size(), 10u);  // starts 0, 4, ..., 36
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << e.path();
    files += e.path().parent_path().filename() == "frames";
  }
  EXPECT_EQ(files, 40u);
}

}  // namespace
