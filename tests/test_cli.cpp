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
