// The da3 CLI as a user runs it: exit codes, messages, and that outputs appear whole or not at all.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "da3/safetensors.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

using test::CliRun;
using test::run_cli;

}  // namespace

TEST(Cli, HelpAndVersion) {
  CliRun r = run_cli("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.output.find("info"), std::string::npos);
  EXPECT_NE(r.output.find("forward"), std::string::npos);
  r = run_cli("--version");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.output.find("da3.cpp"), std::string::npos);
  r = run_cli("no-such-command");
  EXPECT_NE(r.rc, 0);
}

// OpenCV lives in the media plugin (libda3_media.so), loaded for images and video only: the
// binary must not depend on it, and runs that touch no pixels must work without the plugin.
TEST(Cli, LinksNoOpenCvAndModelRunsNeverLoadTheMediaPlugin) {
  const std::string no_plugin = "DA3_MEDIA_PLUGIN=/nonexistent/libda3_media.so";
  CliRun r = run_cli("--version", no_plugin);
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("da3.cpp"), std::string::npos) << r.output;

  const std::string fx = test::fixtures_dir() + "/tiny-anyview";
  test::TempDir d;
  r = run_cli("forward --model " + fx + " --input " + fx + "/forward_1view_112x84.safetensors --output " +
                  d.file("out.safetensors"),
              no_plugin);
  EXPECT_EQ(r.rc, 0) << r.output;

  // The dynamic loader's own list of what the binary pulls in (what ldd prints).
  auto loaded_objects = [](const std::string& file) {
    std::string out;
    if (FILE* p = ::popen(("ldd '" + file + "' 2>&1").c_str(), "r")) {
      std::array<char, 4096> buf;
      while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
      if (::pclose(p) != 0) out.clear();
    }
    return out;
  };
  const std::string cli = loaded_objects(DA3_CLI_PATH);
  if (cli.empty()) GTEST_SKIP() << "ldd is not available";
  EXPECT_NE(cli.find("libc.so"), std::string::npos) << cli;
  EXPECT_EQ(cli.find("libopencv"), std::string::npos) << cli;
  // The check can see OpenCV: the plugin next to the binary has it.
  const std::string plugin =
      (std::filesystem::path(DA3_CLI_PATH).parent_path() / "libda3_media.so").string();
  EXPECT_NE(loaded_objects(plugin).find("libopencv_imgcodecs"), std::string::npos) << plugin;
}

TEST(Cli, InfoReportsIsaThreadsAndAttention) {
  CliRun r = run_cli("info");
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("CPU ISA:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Threads:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Flash Attention available:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Selected backend:"), std::string::npos) << r.output;
}

TEST(Cli, ForwardMatchesReference) {
  test::TempDir d;
  const std::string fx = test::fixtures_dir() + "/tiny-anyview";
  const std::string out = d.file("out.safetensors");
  CliRun r = run_cli("forward --model " + fx + " --input " + fx + "/forward_4view_56x70.safetensors --output " + out);
  ASSERT_EQ(r.rc, 0) << r.output;
  SafetensorsFile got = SafetensorsFile::open(out);
  SafetensorsFile ref = SafetensorsFile::open(fx + "/forward_4view_56x70.safetensors");
  EXPECT_LT(test::rel_err(got.tensor("depth"), ref.tensor("depth")), 1e-4);
  EXPECT_LT(test::rel_err(got.tensor("depth_conf"), ref.tensor("depth_conf")), 1e-4);
  EXPECT_LT(test::rel_err(got.tensor("extrinsics"), ref.tensor("pred_extrinsics")), 1e-4);
  EXPECT_LT(test::rel_err(got.tensor("intrinsics"), ref.tensor("pred_intrinsics")), 1e-4);
}

TEST(Cli, ForwardBadInputsFailCleanly) {
  test::TempDir d;
  const std::string fx = test::fixtures_dir() + "/tiny-anyview";
  const std::string out = d.file("out.safetensors");
  CliRun r = run_cli("forward --model " + d.file("nope") + " --input " + fx + "/forward_1view_112x84.safetensors --output " + out);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  r = run_cli("forward --model " + fx + " --input " + fx + "/config.json --output " + out);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("safetensors file"), std::string::npos) << r.output;
  r = run_cli("forward --model " + fx + " --input " + fx + "/forward_1view_112x84.safetensors --output " + out +
              " --backend turbo");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("unknown attention backend 'turbo'"), std::string::npos) << r.output;
  // A truncated checkpoint: clear error, non-zero exit, and no output file left behind.
  std::filesystem::create_directories(d.file("trunc"));
  std::filesystem::copy_file(fx + "/config.json", d.file("trunc/config.json"));
  std::filesystem::copy_file(fx + "/model.safetensors", d.file("trunc/model.safetensors"));
  std::filesystem::resize_file(d.file("trunc/model.safetensors"), std::filesystem::file_size(d.file("trunc/model.safetensors")) / 2);
  r = run_cli("forward --model " + d.file("trunc") + " --input " + fx + "/forward_1view_112x84.safetensors --output " + out);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path())) entries += e.path().filename() != "trunc";
  EXPECT_EQ(entries, 0) << "temporary files left behind";
}
