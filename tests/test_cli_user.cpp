// The CLI a DA3 user expects (issue 18): the official command and option spellings, and the
// rough edges a new user hits (range checks, output folders, reruns, file names, progress).
// Each test runs the built `da3` as a user would, on the tiny fixture checkpoint.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <string>

#include "io/npz.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace {

using da3::test::CliRun;
using da3::test::run_cli;

std::string fx() { return da3::test::fixtures_dir(); }
std::string img(const std::string& name) { return fx() + "/pipeline/images/" + name; }
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// A shell command line's stdout and stderr (for what is not `da3 ...` itself: make, script).
std::string sh(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

std::string model_arg() { return " -m " + fx() + "/tiny-anyview "; }

// Issue 18, item 13: values outside an option's range fail before anything runs, in one line.
TEST(CliUser, RangeChecksFailWithOneClearLine) {
  da3::test::TempDir t;
  const std::string plain = "infer " + img("c_port_210x300.jpg") + model_arg() + "-o " + t.file("out");
  const std::string base = plain + " --process-res 56";
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{base + " --conf-percentile 150", "--conf-percentile must be a percentile in [0, 100]"},
                        Case{base + " --conf-percentile -1", "--conf-percentile must be a percentile in [0, 100]"},
                        Case{base + " --conf-percentile nan", "--conf-percentile must be a percentile in [0, 100]"},
                        Case{base + " --max-points 0", "--max-points must be at least 1"},
                        Case{base + " --max-points -5", "--max-points must be at least 1"},
                        Case{plain + " --process-res 0", "--process-res must be in [14, "},
                        Case{plain + " --process-res -3", "--process-res must be in [14, "},
                        Case{"video " + t.file("clip.avi") + model_arg() + "--chunk 0", "--chunk must be a positive"},
                        Case{"video " + t.file("clip.avi") + model_arg() + "--fps 0", "--fps must be a positive"},
                        Case{"video " + t.file("clip.avi") + model_arg() + "--fps -2", "--fps must be a positive"}}) {
    const CliRun r = run_cli(c.args);
    EXPECT_EQ(r.rc, 1) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("da3: error: " + c.says, 0), 0u) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line:\n" << r.output;
    EXPECT_FALSE(fs::exists(t.file("out")));
  }
}

// Issue 18, item 17: help text without CLI11's default markers; a failed first pull leaves no
// empty models/ folder behind.
TEST(CliUser, BenchHelpAndFailedPullLeaveNothingOdd) {
  const CliRun help = run_cli("bench attention --help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.output.find("--no-check"), std::string::npos) << help.output;
  EXPECT_EQ(help.output.find("{false}"), std::string::npos) << help.output;
  EXPECT_EQ(help.output.find("{true}"), std::string::npos) << help.output;
  da3::test::TempDir t;
  const CliRun r = run_cli("pull DA3-SMALL --dir " + t.file("new/models"), "HF_ENDPOINT=http://127.0.0.1:1");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_FALSE(fs::exists(t.file("new"))) << "a failed pull left " << t.file("new");
  EXPECT_TRUE(fs::is_directory(t.path()));  // what existed before stays
}

// Issue 18, item 10: -t and -v work after the subcommand as before it.
TEST(CliUser, GlobalOptionsAfterTheSubcommand) {
  const CliRun before = run_cli("-t 1 info");
  ASSERT_EQ(before.rc, 0) << before.output;
  EXPECT_NE(before.output.find("Threads: 1\n"), std::string::npos) << before.output;
  const CliRun after = run_cli("info -t 1");
  ASSERT_EQ(after.rc, 0) << after.output;
  EXPECT_NE(after.output.find("Threads: 1\n"), std::string::npos) << after.output;
  const CliRun two = run_cli("info --threads 2 -v");
  ASSERT_EQ(two.rc, 0) << two.output;
  EXPECT_NE(two.output.find("Threads: 2\n"), std::string::npos) << two.output;
  // Through a nested subcommand and beside a subcommand's own options and positionals.
  da3::test::TempDir t;
  const CliRun infer = run_cli("infer " + img("c_port_210x300.jpg") + " -t 1" + model_arg() +
                               "--process-res 56 -o " + t.file("out") + " -v");
  EXPECT_EQ(infer.rc, 0) << infer.output;
  EXPECT_TRUE(fs::exists(t.file("out/results.npz")));
  EXPECT_NE(run_cli("infer --help").output.find("-t/--threads"), std::string::npos);
  const CliRun bad = run_cli("info -t 5000");
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.output.find("--threads"), std::string::npos) << bad.output;
}

// Issue 18, item 5b: the official CLI's spellings work as aliases, and --no-cameras drops the
// camera frustums glb shows by default.
TEST(CliUser, OfficialSpellingsAndNoCameras) {
  da3::test::TempDir t;
  const std::string two = " " + img("c_port_210x300.jpg") + " " + img("d_land_300x190.png");
  CliRun r = run_cli("images" + two + " --model-dir " + fx() + "/tiny-anyview --process-res 56 --export-dir " +
                     t.file("a") + " --export-format npz,glb --use-ray-pose");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(da3::io::read_npz(t.file("a/results.npz")).at("depth").size(0), 2);
  const std::string with_cameras = slurp(t.file("a/scene.glb"));
  EXPECT_NE(with_cameras.find("camera_0"), std::string::npos);
  r = run_cli("image " + img("c_port_210x300.jpg") + model_arg() + "--process-res 56 -o " + t.file("b"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::exists(t.file("b/results.npz")));
  r = run_cli("infer" + two + model_arg() + "--process-res 56 -f glb --no-cameras -o " + t.file("c"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const std::string points_only = slurp(t.file("c/scene.glb"));
  EXPECT_NE(points_only.find("points"), std::string::npos);
  EXPECT_EQ(points_only.find("camera_"), std::string::npos);
  r = run_cli("infer" + two + model_arg() + "--process-res 56 -f glb --show-cameras -o " + t.file("d"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(slurp(t.file("d/scene.glb")).find("camera_1"), std::string::npos);
  const CliRun help = run_cli("infer --help");
  for (const char* name : {"--export-dir", "--export-format", "--model-dir", "--use-ray-pose", "--no-cameras", "image"})
    EXPECT_NE(help.output.find(name), std::string::npos) << name;
}

// Issue 18, item 6: the folders an export creates get 0777 less the umask, as any folder a
// program makes (they came from mkdtemp, 0700, whatever the umask).
TEST(CliUser, OutputFoldersHonourTheUmask) {
  da3::test::TempDir t;
  for (const auto& [mask, want] : {std::pair{"022", 0755}, std::pair{"027", 0750}}) {
    const std::string out = t.file(std::string("out") + mask);
    const CliRun r = run_cli("infer " + img("c_port_210x300.jpg") + model_arg() +
                                 "--process-res 56 -f depth_png,depth16,colmap,npz -o " + out,
                             std::string("umask ") + mask + ";");
    ASSERT_EQ(r.rc, 0) << r.output;
    for (const char* dir : {"", "/depth_png", "/depth16", "/colmap", "/colmap/sparse", "/colmap/sparse/0", "/colmap/text"}) {
      struct stat st {};
      ASSERT_EQ(::stat((out + dir).c_str(), &st), 0) << out + dir;
      EXPECT_EQ(st.st_mode & 0777, unsigned(want)) << out + dir << " under umask " << mask;
    }
  }
}

// Issue 18, item 8: per-view files are named "<index>_<source stem>", and the npz says which
// file each view came from.
TEST(CliUser, PerViewFilesNamedAfterTheirSource) {
  da3::test::TempDir t;
  const CliRun r = run_cli("infer " + img("c_port_210x300.jpg") + " " + img("d_land_300x190.png") + model_arg() +
                           "--process-res 56 -f npz,depth_png,depth16 -o " + t.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  for (const char* f : {"depth_png/0000_c_port_210x300.png", "depth_png/0001_d_land_300x190.png",
                        "depth16/0000_c_port_210x300.png", "depth16/0000_c_port_210x300.json",
                        "depth16/0001_d_land_300x190.png", "depth16/0001_d_land_300x190.json"})
    EXPECT_TRUE(fs::is_regular_file(t.file("out/") + f)) << f;
  EXPECT_FALSE(fs::exists(t.file("out/depth_png/0000.png")));
  const auto z = da3::io::read_npz(t.file("out/results.npz"));
  ASSERT_TRUE(z.count("source_names"));
  const auto names = da3::io::npz_strings(z.at("source_names"), "source_names");
  EXPECT_EQ(names, (std::vector<std::string>{"c_port_210x300.jpg", "d_land_300x190.png"}));
}

// Issue 18, item 7: a rerun into a folder holding a previous run's outputs is refused unless
// --overwrite, which removes exactly the files the previous run's manifest lists.
TEST(CliUser, RerunNeedsOverwriteWhichRemovesOnlyThePreviousRunsFiles) {
  da3::test::TempDir t;
  const std::string out = t.file("out");
  const std::string run = "infer " + img("c_port_210x300.jpg") + model_arg() + "--process-res 56 -o " + out;
  CliRun r = run_cli(run + " -f npz,depth_png");
  ASSERT_EQ(r.rc, 0) << r.output;
  const std::string manifest = slurp(out + "/da3_manifest.json");
  EXPECT_NE(manifest.find("\"results.npz\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"depth_png/0000_c_port_210x300.png\""), std::string::npos) << manifest;
  const std::string npz_before = slurp(out + "/results.npz");

  r = run_cli(run + " -f npz");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("da3: error: output folder '" + out + "' holds the files of a previous run"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(out + "/results.npz"), npz_before);

  std::ofstream(out + "/notes.txt") << "mine";
  std::ofstream(out + "/depth_png/mine.txt") << "mine";
  r = run_cli(run + " -f glb --overwrite");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(out + "/scene.glb"));
  EXPECT_FALSE(fs::exists(out + "/results.npz"));
  EXPECT_FALSE(fs::exists(out + "/depth_png/0000_c_port_210x300.png"));
  EXPECT_TRUE(fs::is_regular_file(out + "/notes.txt"));  // not da3's: kept
  EXPECT_TRUE(fs::is_regular_file(out + "/depth_png/mine.txt"));
  const std::string now = slurp(out + "/da3_manifest.json");
  EXPECT_NE(now.find("\"scene.glb\""), std::string::npos) << now;
  EXPECT_EQ(now.find("results.npz"), std::string::npos) << now;

  // The folder a removed export leaves empty goes too.
  fs::remove(out + "/depth_png/mine.txt");
  ASSERT_EQ(run_cli(run + " -f depth16 --overwrite").rc, 0);
  ASSERT_EQ(run_cli(run + " -f npz --overwrite").rc, 0);
  EXPECT_FALSE(fs::exists(out + "/depth16"));
}

TEST(CliUser, OutputsWithoutAManifestAndForeignManifestsAreRefused) {
  da3::test::TempDir t;
  const std::string run = "infer " + img("c_port_210x300.jpg") + model_arg() + "--process-res 56 -f npz -o ";
  // A folder from before manifests existed: its export names give it away.
  fs::create_directories(t.file("old"));
  std::ofstream(t.file("old/scene.glb")) << "old";
  CliRun r = run_cli(run + t.file("old"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("already holds scene.glb"), std::string::npos) << r.output;
  r = run_cli(run + t.file("old") + " --overwrite");
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(t.file("old/scene.glb")));  // unknown to the manifest: kept
  // A manifest naming anything outside the folder is never acted on.
  fs::create_directories(t.file("evil"));
  std::ofstream(t.file("victim.txt")) << "keep";
  std::ofstream(t.file("evil/da3_manifest.json")) << R"({"files": ["../victim.txt"]})";
  r = run_cli(run + t.file("evil") + " --overwrite");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("not a path inside the folder"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_regular_file(t.file("victim.txt")));
  // Nor through a folder that became a link to elsewhere since.
  fs::create_directories(t.file("elsewhere"));
  std::ofstream(t.file("elsewhere/keep.png")) << "keep";
  fs::create_directory_symlink(t.file("elsewhere"), t.file("evil/depth_png"));
  std::ofstream(t.file("evil/da3_manifest.json")) << R"({"files": ["depth_png/keep.png"]})";
  r = run_cli(run + t.file("evil") + " --overwrite");
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(t.file("elsewhere/keep.png")));
  fs::remove(t.file("evil/depth_png"));
  std::ofstream(t.file("evil/da3_manifest.json")) << "{not json";
  r = run_cli(run + t.file("evil") + " --overwrite");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("cannot be read as JSON"), std::string::npos) << r.output;
  // An existing folder of other files is fine.
  fs::create_directories(t.file("mine"));
  std::ofstream(t.file("mine/photo.txt")) << "x";
  EXPECT_EQ(run_cli(run + t.file("mine")).rc, 0);
}

// Issue 18, item 11: -m takes a name `da3 pull` fetched (looked up in $DA3_MODELS_DIR) and the
// path of a model.safetensors as well as a folder.
TEST(CliUser, ModelByPulledNameOrSafetensorsPath) {
  da3::test::TempDir t;
  fs::create_directories(t.file("store"));
  fs::create_directory_symlink(fx() + "/tiny-anyview", t.file("store/DA3-TINY"));
  const std::string run = "infer " + img("c_port_210x300.jpg") + " --process-res 56 -f npz -o ";
  const std::string env = "DA3_MODELS_DIR=" + t.file("store");
  CliRun r = run_cli(run + t.file("a") + " -m DA3-TINY", env);
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::exists(t.file("a/results.npz")));
  r = run_cli(run + t.file("b") + " -m depth-anything/DA3-TINY", env);
  EXPECT_EQ(r.rc, 0) << r.output;
  r = run_cli(run + t.file("c") + " -m " + fx() + "/tiny-anyview/model.safetensors");
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(fs::exists(t.file("c/results.npz")));
  // Without DA3_MODELS_DIR the name is looked for in models/ (of the working directory).
  r = run_cli(run + t.file("d") + " -m DA3-TINY", "cd " + t.path().string() + " && ln -s store models &&");
  EXPECT_EQ(r.rc, 0) << r.output;
  r = run_cli(run + t.file("e") + " -m DA3-NOPE", env);
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("da3: error: model 'DA3-NOPE' is neither a folder here nor in " + t.file("store")),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("da3 pull DA3-NOPE"), std::string::npos) << r.output;
  r = run_cli(run + t.file("e") + " -m " + fx() + "/tiny-anyview/config.json");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("is a file; give its folder"), std::string::npos) << r.output;
  // `da3 pull` writes where -m NAME looks (a refused connection: only the target is checked).
  r = run_cli("pull DA3-SMALL", "HF_ENDPOINT=http://127.0.0.1:1 " + env);
  EXPECT_NE(r.output.find(t.file("store") + "/DA3-SMALL/config.json"), std::string::npos) << r.output;
}

// Issue 18, item 9: on a terminal a progress line on stderr (stages, views, elapsed time); at
// the end one summary line on stdout; -q silences both; off a terminal no progress.
TEST(CliUser, ProgressOnATerminalSummaryOnStdoutQuietSilences) {
  da3::test::TempDir t;
  const std::string run = "infer " + img("a_land_640x420.jpg") + " " + img("k_texture_320x240.jpg") + model_arg() +
                          "--process-res 56 -f npz,depth_png --overwrite -o " + t.file("out");
  // Off a terminal (a pipe): stdout is the summary line alone, stderr is empty.
  CliRun r = run_cli(run + " 2>" + t.file("err.txt"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(slurp(t.file("err.txt")), "");
  EXPECT_EQ(r.output.find('\r'), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_EQ(r.output.rfind("da3 infer: 2 views at 56x42 in ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(" s -> " + t.file("out") + "/ (results.npz, depth_png/)\n"), std::string::npos) << r.output;
  // -q: nothing at all.
  r = run_cli(run + " -q");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(r.output, "");
  // On a terminal (script(1) runs the command on a pseudo-terminal): the progress line.
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script(1) is not installed";
  const std::string cmd = std::string(DA3_CLI_PATH) + " " + run;
  r.output = sh("script -qec '" + cmd + "' /dev/null");
  EXPECT_NE(r.output.find("\rreading 2 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\rforward: 2 views 56x42  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\rwriting npz, depth_png  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("da3 infer: 2 views at 56x42"), std::string::npos) << r.output;
  r.output = sh("script -qec '" + cmd + " -q' /dev/null");
  EXPECT_EQ(r.output.find("forward:"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("da3 infer:"), std::string::npos) << r.output;
}

// Issue 18, item 12: a results.npz fed back as --poses gives back its own cameras. Its
// `intrinsics` are in processed pixels, --poses takes source pixels: the npz also carries
// source_intrinsics and source_sizes, and --poses uses them.
TEST(CliUser, PosesRoundTripThroughOurOwnNpz) {
  da3::test::TempDir t;
  const std::string views = " " + img("a_land_640x420.jpg") + " " + img("k_texture_320x240.jpg") + " " +
                            img("d_land_300x190.png") + model_arg() + "--process-res 70 -f npz ";
  CliRun r = run_cli("infer" + views + "-o " + t.file("first"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto first = da3::io::read_npz(t.file("first/results.npz"));
  ASSERT_TRUE(first.count("source_intrinsics"));
  const da3::Tensor sizes = first.at("source_sizes");
  EXPECT_EQ(sizes.shape(), (da3::Shape{3, 2}));
  EXPECT_EQ(sizes.data_as<int32_t>()[0], 640);
  EXPECT_EQ(sizes.data_as<int32_t>()[1], 420);
  // fx in source pixels is fx in processed pixels over the resize factor (640 -> 70 wide).
  EXPECT_NEAR(first.at("source_intrinsics").data_as<float>()[0], first.at("intrinsics").data_as<float>()[0] * 640.0 / 70.0,
              1e-3 * first.at("source_intrinsics").data_as<float>()[0]);
  r = run_cli("infer" + views + "--poses " + t.file("first/results.npz") + " -o " + t.file("second"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto second = da3::io::read_npz(t.file("second/results.npz"));
  EXPECT_LT(da3::test::rel_err(second.at("intrinsics"), first.at("intrinsics")), 1e-5);
  EXPECT_LT(da3::test::rel_err(second.at("extrinsics"), first.at("extrinsics")), 1e-5);
  EXPECT_LT(da3::test::rel_err(second.at("source_intrinsics"), first.at("source_intrinsics")), 1e-5);
  // An npz whose intrinsics are processed pixels and nothing else (the reference's) is refused.
  {
    da3::io::NpzWriter w(t.file("ref.npz"));
    w.add("image", first.at("image"));
    w.add("extrinsics", first.at("extrinsics"));
    w.add("intrinsics", first.at("intrinsics"));
    w.commit();
  }
  r = run_cli("infer" + views + "--poses " + t.file("ref.npz") + " -o " + t.file("third"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("in pixels of the processed views"), std::string::npos) << r.output;
}

// Issue 18, item 14: `make install` (PREFIX, default /usr/local) puts a working da3 on PATH: the
// installed binary finds its media plugin and runs a whole inference.
TEST(CliUser, MakeInstallPutsAWorkingDa3OnPath) {
  const fs::path src = fs::path(DA3_FIXTURES_DIR).parent_path().parent_path();
  const std::string build = fs::path(DA3_CLI_PATH).parent_path().string();
  std::string out = sh("make -s -n -C " + src.string() + " install BUILD_DIR=" + build);
  EXPECT_NE(out.find("scripts/install.sh " + build + " /usr/local"), std::string::npos) << out;
  out = sh("make -s -n -C " + src.string() + " install BUILD_DIR=" + build + " PREFIX=/opt/x");
  EXPECT_NE(out.find("scripts/install.sh " + build + " /opt/x"), std::string::npos) << out;
  // The recipe itself, into a prefix of our own (make would first bring the build up to date,
  // which is the suite's own build here).
  da3::test::TempDir t;
  const std::string prefix = t.file("prefix");
  out = sh("bash " + (src / "scripts/install.sh").string() + " " + build + " " + prefix);
  ASSERT_NE(out.find("installed " + prefix + "/bin/da3"), std::string::npos) << out;
  out = sh("PATH=" + prefix + "/bin:/usr/bin:/bin da3 infer " + img("c_port_210x300.jpg") + model_arg() +
           "--process-res 56 -q -o " + t.file("out"));
  EXPECT_TRUE(fs::is_regular_file(t.file("out/results.npz"))) << out;
}

// Issue 18, item 16: the README's hardware note says what the build dispatches on (each ISA
// name `da3 info` can print, as src/core/cpu.cpp's cpu_isa_name() names them) and points at
// `da3 info`, instead of naming one development machine.
TEST(CliUser, ReadmeHardwareNoteMatchesWhatDa3InfoShows) {
  const fs::path src = fs::path(DA3_FIXTURES_DIR).parent_path().parent_path();
  const std::string readme = slurp((src / "README.md").string());
  const size_t note = readme.find("**Hardware.**");
  ASSERT_NE(note, std::string::npos);
  const std::string text = readme.substr(note, readme.find("\n\n", note) - note);
  for (const char* isa : {"`amx`", "`avx512-bf16`", "`avx512`", "`avx2`", "`scalar`", "`da3 info`", "CUDA"})
    EXPECT_NE(text.find(isa), std::string::npos) << isa << " not in:\n" << text;
  // This machine's ISA, as da3 info prints it, is among those named.
  const CliRun info = run_cli("info");
  const size_t at = info.output.find("CPU ISA: ");
  ASSERT_NE(at, std::string::npos) << info.output;
  const std::string isa = info.output.substr(at + 9, info.output.find(' ', at + 9) - at - 9);
  EXPECT_NE(text.find("`" + isa + "`"), std::string::npos) << isa;
  EXPECT_EQ(text.find("Zen"), std::string::npos) << "a machine named in the note:\n" << text;
}

// Issue 18, item 5: --original-size writes depth at the source image's size.
TEST(CliUser, OriginalSizeDepthInNpzDepth16AndDepthPng) {
  da3::test::TempDir t;
  // Width and height of a PNG from its IHDR chunk (big-endian, bytes 16..23).
  auto png_size = [](const std::string& path) {
    const std::string b = slurp(path);
    if (b.size() < 24) return std::pair<int, int>{-1, -1};
    auto be32 = [&](size_t i) {
      return int(uint8_t(b[i])) << 24 | int(uint8_t(b[i + 1])) << 16 | int(uint8_t(b[i + 2])) << 8 | int(uint8_t(b[i + 3]));
    };
    return std::pair<int, int>{be32(16), be32(20)};
  };
  CliRun r = run_cli("infer " + img("a_land_640x420.jpg") + " " + img("k_texture_320x240.jpg") + model_arg() +
                     "--process-res 56 -f depth16,depth_png --original-size -o " + t.file("two"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(png_size(t.file("two/depth16/0000_a_land_640x420.png")), (std::pair<int, int>{640, 420}));
  EXPECT_EQ(png_size(t.file("two/depth16/0001_k_texture_320x240.png")), (std::pair<int, int>{320, 240}));
  EXPECT_EQ(png_size(t.file("two/depth_png/0001_k_texture_320x240.png")), (std::pair<int, int>{320, 240}));
  EXPECT_NE(slurp(t.file("two/depth16/0000_a_land_640x420.json")).find("\"width\": 640"), std::string::npos);
  // npz: depth_original beside the processed-size keys; it agrees with them where both exist.
  r = run_cli("infer " + img("k_texture_320x240.jpg") + model_arg() + "--process-res 56 -f npz --original-size -o " +
              t.file("one"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto z = da3::io::read_npz(t.file("one/results.npz"));
  ASSERT_TRUE(z.count("depth_original"));
  EXPECT_EQ(z.at("depth_original").shape(), (da3::Shape{1, 240, 320}));
  EXPECT_EQ(z.at("conf_original").shape(), (da3::Shape{1, 240, 320}));
  EXPECT_EQ(z.at("depth").shape(), (da3::Shape{1, 42, 56}));
  double lo = 1e30, hi = -1e30, olo = 1e30, ohi = -1e30;
  for (int64_t i = 0; i < 42 * 56; ++i) {
    lo = std::min(lo, double(z.at("depth").data_as<float>()[i]));
    hi = std::max(hi, double(z.at("depth").data_as<float>()[i]));
  }
  for (int64_t i = 0; i < 240 * 320; ++i) {
    olo = std::min(olo, double(z.at("depth_original").data_as<float>()[i]));
    ohi = std::max(ohi, double(z.at("depth_original").data_as<float>()[i]));
  }
  EXPECT_GE(olo, lo - 1e-5);  // bilinear: inside the range of the processed map
  EXPECT_LE(ohi, hi + 1e-5);
  EXPECT_LT(olo, ohi);
  // Views of different source sizes cannot share one npz array: said before the model runs.
  r = run_cli("infer " + img("a_land_640x420.jpg") + " " + img("k_texture_320x240.jpg") + model_arg() +
              "--process-res 56 -f npz --original-size -o " + t.file("mixed"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("--original-size into npz needs every view at one source size"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t.file("mixed/results.npz")));
}

// Issue 18, item 15: `make demo` without a checkpoint says how to get the weights and how to
// point at them, then runs the whole pipeline offline on the tiny random-weight test checkpoint,
// labelled as such, with the time, the files written and how to view scene.glb.
TEST(CliUser, DemoWithoutACheckpointRunsOnRandomWeightsOffline) {
  const fs::path src = fs::path(DA3_FIXTURES_DIR).parent_path().parent_path();
  da3::test::TempDir t;
  fs::create_directories(t.file("no-models"));
  const std::string out = sh("env -u DA3_MODEL DA3=" + std::string(DA3_CLI_PATH) + " DA3_MODELS_DIR=" +
                             t.file("no-models") + " DA3_DEMO_OUT=" + t.file("demo") + " bash " +
                             (src / "scripts/demo.sh").string() + "; echo rc=$?");
  EXPECT_NE(out.find("rc=0\n"), std::string::npos) << out;
  for (const char* says : {"da3 pull DA3-SMALL", "DA3_MODEL=/path/to/DA3-SMALL make demo", "RANDOM-WEIGHT model",
                           "MEANINGLESS", "RANDOM WEIGHTS: done in ", "scene.glb", "glTF viewer"})
    EXPECT_NE(out.find(says), std::string::npos) << says << " not in:\n" << out;
  const std::string dir = t.file("demo-RANDOM-WEIGHTS");
  for (const char* f : {"results.npz", "scene.glb", "points.ply", "depth_png/0000_view_0.png"}) {
    EXPECT_TRUE(fs::is_regular_file(dir + "/" + f)) << f;
    EXPECT_NE(out.find(dir + "/" + f), std::string::npos) << f << " not listed";
  }
  EXPECT_FALSE(fs::exists(t.file("demo")));  // nothing random-weight under the real demo's folder name
}

// Issue 18, item 2: `da3 colmap DIR` runs a COLMAP dataset with its cameras as the input poses,
// from a binary or a text model. The dataset here is our own COLMAP export of a first run: the
// second run's cameras must be the ones the model holds.
TEST(CliUser, ColmapDatasetCamerasBecomeTheInputPoses) {
  da3::test::TempDir t;
  const std::vector<std::string> names = {"a_land_640x420.jpg", "d_land_300x190.png", "k_texture_320x240.jpg"};
  std::string views;
  for (const auto& n : names) views += " " + img(n);
  CliRun r = run_cli("infer" + views + model_arg() + "--process-res 70 -f npz,colmap -o " + t.file("first"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto first = da3::io::read_npz(t.file("first/results.npz"));
  for (const char* kind : {"bin", "txt"}) {
    const std::string ds = t.file(std::string("ds_") + kind);
    fs::create_directories(ds + "/images");
    for (const auto& n : names) fs::copy_file(img(n), ds + "/images/" + n);
    const std::string model = std::string(kind) == "bin" ? t.file("first/colmap/sparse/0") : t.file("first/colmap/text");
    fs::create_directories(ds + (std::string(kind) == "bin" ? "/sparse/0" : "/sparse"));
    fs::copy(model, ds + (std::string(kind) == "bin" ? "/sparse/0" : "/sparse"), fs::copy_options::recursive);
    r = run_cli("colmap " + ds + model_arg() + "--process-res 70 -f npz -o " + ds + "/out");
    ASSERT_EQ(r.rc, 0) << kind << "\n" << r.output;
    const auto z = da3::io::read_npz(ds + "/out/results.npz");
    EXPECT_EQ(da3::io::npz_strings(z.at("source_names"), "source_names"), names);
    EXPECT_LT(da3::test::rel_err(z.at("extrinsics"), first.at("extrinsics")), 1e-5) << kind;
    EXPECT_LT(da3::test::rel_err(z.at("source_intrinsics"), first.at("source_intrinsics")), 1e-5) << kind;
  }
  // Bad datasets: one line each, before the model runs.
  fs::create_directories(t.file("bad/sparse"));
  r = run_cli("colmap " + t.file("bad") + model_arg() + "-o " + t.file("bad/out"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("has no images/ folder"), std::string::npos) << r.output;
  fs::create_directories(t.file("bad/images"));
  r = run_cli("colmap " + t.file("bad") + model_arg() + "-o " + t.file("bad/out"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("holds no COLMAP sparse model"), std::string::npos) << r.output;
  const std::string cams = slurp(t.file("ds_bin/sparse/0/cameras.bin"));
  std::ofstream(t.file("bad/sparse/cameras.bin"), std::ios::binary) << cams.substr(0, cams.size() - 5);
  fs::copy_file(t.file("ds_bin/sparse/0/images.bin"), t.file("bad/sparse/images.bin"));
  r = run_cli("colmap " + t.file("bad") + model_arg() + "-o " + t.file("bad/out"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("is truncated or corrupt"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t.file("bad/out")));
}

// Issue 18, item 1: `da3 auto INPUT` runs the command INPUT calls for (the video case is in
// test_video.cpp, which writes videos).
TEST(CliUser, AutoPicksTheCommandFromTheInput) {
  da3::test::TempDir t;
  const std::string opts = model_arg() + "--process-res 56 -f npz -o ";
  CliRun r = run_cli("auto " + img("k_texture_320x240.jpg") + opts + t.file("one"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("is an image -> da3 infer"), std::string::npos) << r.output;
  EXPECT_EQ(da3::io::read_npz(t.file("one/results.npz")).at("depth").size(0), 1);
  // A folder of images: one scene of all of them.
  fs::create_directories(t.file("pics"));
  fs::copy_file(img("k_texture_320x240.jpg"), t.file("pics/x.jpg"));
  fs::copy_file(img("a_land_640x420.jpg"), t.file("pics/y.jpg"));
  r = run_cli("auto " + t.file("pics") + opts + t.file("two"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("is a folder of images -> da3 infer"), std::string::npos) << r.output;
  EXPECT_EQ(da3::io::read_npz(t.file("two/results.npz")).at("depth").size(0), 2);
  // A COLMAP dataset (a hand-written text model): its cameras become the poses.
  const std::string ds = t.file("ds");
  fs::create_directories(ds + "/sparse");
  fs::create_directories(ds + "/images");
  const std::vector<std::pair<std::string, std::string>> views = {
      {"a_land_640x420.jpg", "640 420"}, {"d_land_300x190.png", "300 190"}, {"k_texture_320x240.jpg", "320 240"}};
  std::ofstream cams(ds + "/sparse/cameras.txt"), ims(ds + "/sparse/images.txt");
  cams << "# Camera list\n";
  for (size_t i = 0; i < views.size(); ++i) {
    fs::copy_file(img(views[i].first), ds + "/images/" + views[i].first);
    cams << i + 1 << " PINHOLE " << views[i].second << " 500 510 150 100\n";
    // Identity rotations, camera centres at (0,0,0), (-1,0,0), (0,-1,0): not on one line.
    ims << i + 1 << " 1 0 0 0 " << (i == 1 ? 1 : 0) << " " << (i == 2 ? 1 : 0) << " 0 " << i + 1 << " "
        << views[i].first << "\n\n";
  }
  cams.close();
  ims.close();
  r = run_cli("auto " + ds + opts + t.file("three"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("is a COLMAP dataset -> da3 colmap"), std::string::npos) << r.output;
  const auto z = da3::io::read_npz(t.file("three/results.npz"));
  ASSERT_EQ(z.at("extrinsics").size(0), 3);
  EXPECT_NEAR(z.at("extrinsics").data_as<float>()[12 + 3], 1.f, 1e-4);  // view 1: t = (1, 0, 0)
  EXPECT_NEAR(z.at("source_intrinsics").data_as<float>()[0], 500.f, 1e-2);
  // Nothing there, or a folder without images: one line.
  r = run_cli("auto " + t.file("nothing") + opts + t.file("four"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("da3: error: '" + t.file("nothing") + "' does not exist"), std::string::npos) << r.output;
  fs::create_directories(t.file("empty"));
  r = run_cli("auto " + t.file("empty") + opts + t.file("four"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("contains no images"), std::string::npos) << r.output;
}

// Issue 18, item 3: depth_vis and feat_vis (each view's image beside its coloured depth / the PCA
// of its features), --export-feat on infer (features in the npz, in input order), and formats
// joined with '-' as the official CLI writes them (the feat_vis video is in test_video.cpp).
TEST(CliUser, DepthVisFeatVisAndExportFeat) {
  da3::test::TempDir t;
  const std::string a = img("a_land_640x420.jpg"), b = img("k_texture_320x240.jpg"), c = img("d_land_300x190.png");
  const std::string opts = model_arg() + "--process-res 56 -f npz-depth_vis-feat_vis --export-feat 0,3 -o ";
  CliRun r = run_cli("infer " + a + " " + b + " " + c + opts + t.file("abc"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto z = da3::io::read_npz(t.file("abc/results.npz"));
  ASSERT_TRUE(z.count("feat_layer_0") && z.count("feat_layer_3"));
  EXPECT_EQ(z.at("feat_layer_3").shape(), (da3::Shape{3, 3, 4, 48}));  // 42x56 -> 3x4 patches, C 48
  const da3::Tensor& images = z.at("image");  // (3, 42, 56, 3)
  for (const char* f : {"depth_vis/0001_k_texture_320x240.png", "feat_vis/feat_layer_0/0001_k_texture_320x240.png",
                        "feat_vis/feat_layer_3/0001_k_texture_320x240.png"}) {
    const cv::Mat m = cv::imread(t.file("abc/") + f, cv::IMREAD_COLOR);
    ASSERT_FALSE(m.empty()) << f;
    EXPECT_EQ(m.cols, 112) << f;  // the image, then the picture, side by side
    EXPECT_EQ(m.rows, 42) << f;
    int64_t differ = 0;
    std::set<int> right_colours;
    for (int y = 0; y < 42; ++y)
      for (int x = 0; x < 56; ++x) {
        const uint8_t* want = images.data_as<uint8_t>() + ((1 * 42 + y) * 56 + x) * 3;
        const cv::Vec3b got = m.at<cv::Vec3b>(y, x);  // BGR
        differ += got[2] != want[0] || got[1] != want[1] || got[0] != want[2];
        const cv::Vec3b right = m.at<cv::Vec3b>(y, 56 + x);
        right_colours.insert(right[0] << 16 | right[1] << 8 | right[2]);
      }
    EXPECT_EQ(differ, 0) << f << ": the left half is not view 1's processed image";
    EXPECT_GT(right_colours.size(), 3u) << f << ": the right half is flat";
  }
  // Features come back in input order: image a's features are the same whichever position it
  // has (global attention does not depend on the order), also for layer 3, which the backbone
  // computes after moving the reference view first.
  r = run_cli("infer " + b + " " + c + " " + a + opts + t.file("bca"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto z2 = da3::io::read_npz(t.file("bca/results.npz"));
  for (const char* layer : {"feat_layer_0", "feat_layer_3"})
    for (const auto& [i, j] : {std::pair{0, 2}, std::pair{1, 0}, std::pair{2, 1}})
      EXPECT_LT(da3::test::rel_err(z.at(layer).select(0, i), z2.at(layer).select(0, j)), 1e-4) << layer << " " << i;
  // feat_vis needs features to show; an unknown format names them all.
  r = run_cli("infer " + a + model_arg() + "-f feat_vis -o " + t.file("x"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("pass --export-feat LAYERS"), std::string::npos) << r.output;
  r = run_cli("infer " + a + model_arg() + "-f glb-obj -o " + t.file("x"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("unknown export format 'obj' (known: npz, mini_npz, depth_png, depth16, ply, glb, colmap, "
                          "depth_vis, feat_vis, gs_ply, splat, gs_video)"), std::string::npos) << r.output;
  r = run_cli("infer " + a + model_arg() + "--export-feat 1,x -o " + t.file("x"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("--export-feat takes layer numbers"), std::string::npos) << r.output;
}

}  // namespace
