// `da3 bench attention` run as a user would: the JSON rows of kernel and --module mode.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.hpp"

namespace da3 {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "no JSON written at " << path;
  return f.good() ? nlohmann::json::parse(f) : nlohmann::json::array();
}

TEST(BenchAttentionCli, ModuleTimesTheWholeLayerAndMatchesManual) {
  const test::TempDir d;
  const std::string json = d.file("rows.json");
  const test::CliRun r = test::run_cli("-t 2 bench attention --module --tokens 64 --heads 2 --repeat 1 --json " + json);
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("module mode"), std::string::npos) << r.output;
  const nlohmann::json rows = read_json(json);
  ASSERT_TRUE(rows.is_array());
  // One row per default backend: flash_attn, sdpa, manual (64 tokens is under --manual-max-tokens).
  ASSERT_EQ(rows.size(), 3u) << rows.dump(2);
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("mode"), "module") << row.dump();
    EXPECT_EQ(row.at("heads"), 2);
    EXPECT_EQ(row.at("tokens"), 64);
    EXPECT_GT(row.at("median_ms").get<double>(), 0.0) << row.dump();
    EXPECT_GT(row.at("gflops").get<double>(), 0.0) << row.dump();
    ASSERT_TRUE(row.at("max_rel_err").is_number()) << row.dump();
    EXPECT_LT(row.at("max_rel_err").get<double>(), 1e-4) << row.dump();
  }
}

TEST(BenchAttentionCli, ModuleSkipsTheCheckAboveManualMaxTokens) {
  const test::TempDir d;
  const std::string json = d.file("rows.json");
  const test::CliRun r = test::run_cli("-t 2 bench attention --module --tokens 64 --heads 2 --repeat 1 "
                                       "--backends sdpa,manual --manual-max-tokens 32 --json " + json);
  ASSERT_EQ(r.rc, 0) << r.output;
  const nlohmann::json rows = read_json(json);
  ASSERT_EQ(rows.size(), 1u) << rows.dump(2);  // manual is not timed above the limit either
  EXPECT_EQ(rows[0].at("backend"), "sdpa");
  EXPECT_TRUE(rows[0].at("max_rel_err").is_null()) << rows[0].dump();
}

TEST(BenchAttentionCli, KernelModeIsMarkedKernel) {
  const test::TempDir d;
  const std::string json = d.file("rows.json");
  const test::CliRun r =
      test::run_cli("-t 2 bench attention --tokens 64 --heads 2 --repeat 1 --backends sdpa --json " + json);
  ASSERT_EQ(r.rc, 0) << r.output;
  const nlohmann::json rows = read_json(json);
  ASSERT_EQ(rows.size(), 1u) << rows.dump(2);
  EXPECT_EQ(rows[0].at("mode"), "kernel");
  EXPECT_GT(rows[0].at("median_ms").get<double>(), 0.0);
  EXPECT_LT(rows[0].at("max_rel_err").get<double>(), 1e-4);
}

TEST(BenchAttentionCli, HelpDescribesModule) {
  const test::CliRun r = test::run_cli("bench attention --help");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("--module"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not implemented"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace da3
