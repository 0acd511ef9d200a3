// `da3 infer` as a user runs it: exit codes, the one-line error, the files written.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "io/npz.hpp"
#include "test_util.hpp"

namespace {

using da3::test::CliRun;

CliRun da3(const std::string& args) { return da3::test::run_cli(args); }

bool infer_registered() { return da3("--help").output.find("infer") != std::string::npos; }

TEST(PipelineCli, InferWritesTheRequestedFormats) {
  if (!infer_registered()) GTEST_SKIP() << "`da3 infer` is not registered in apps/da3/main.cpp yet";
  const std::string fx = da3::test::fixtures_dir();
  da3::test::TempDir t;
  const CliRun r = da3("infer " + fx + "/pipeline/images/c_port_210x300.jpg " + fx +
                    "/pipeline/images/d_land_300x190.png -m " + fx + "/tiny-anyview --process-res 112 -f npz,glb -o " +
                    t.path().string());
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto z = da3::io::read_npz(t.file("results.npz"));
  EXPECT_EQ(z.at("depth").size(0), 2);
  EXPECT_TRUE(std::filesystem::is_regular_file(t.file("scene.glb")));
}

TEST(PipelineCli, InferFailsWithOneClearLine) {
  if (!infer_registered()) GTEST_SKIP() << "`da3 infer` is not registered in apps/da3/main.cpp yet";
  const std::string fx = da3::test::fixtures_dir();
  const std::string img = fx + "/pipeline/images/c_port_210x300.jpg";
  const std::string model = " -m " + fx + "/tiny-anyview";
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"infer " + img + model + " -f npz,obj", "unknown export format 'obj'"},
                        Case{"infer /nonexistent/x.jpg" + model, "does not exist"},
                        Case{"infer " + img + " -m /nonexistent/model", "/nonexistent/model"},
                        Case{"infer " + img + model + " --process-res-method squash", "unknown resize method"},
                        Case{"infer " + img + model + " --poses /nonexistent/poses.npz", "does not exist"}}) {
    const CliRun r = da3(c.args);
    EXPECT_NE(r.rc, 0) << c.args;
    EXPECT_NE(r.output.find("da3: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
  }
}

TEST(PipelineCli, InferWithoutTheMediaPluginSaysWhatIsMissing) {
  const std::string fx = da3::test::fixtures_dir();
  da3::test::TempDir t;
  const CliRun r = da3::test::run_cli("infer " + fx + "/pipeline/images/c_port_210x300.jpg -m " + fx +
                                          "/tiny-anyview --process-res 112 -f npz -o " + t.path().string(),
                                      "DA3_MEDIA_PLUGIN=/nonexistent/libda3_media.so");
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("da3: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/libda3_media.so (does not exist)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("DA3_MEDIA_PLUGIN"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(t.file("results.npz")));
}

}  // namespace
