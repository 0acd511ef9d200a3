// Issue 14 (hardening), defects 4, 7, 9 and 10 at the model API: architecture configs that
// used to crash (SIGFPE) or load wrong, non-finite inputs and weights that passed silently,
// inputs without views or of an integer dtype, and stage timings written by concurrent calls.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "da3/config.hpp"
#include "da3/error.hpp"
#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "test_util.hpp"

using namespace da3;
namespace fs = std::filesystem;

namespace {

const std::string kFixture = test::fixtures_dir() + "/tiny-anyview";

nlohmann::json fixture_config() {
  std::ifstream f(kFixture + "/config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The fixture's architecture with one field replaced, parsed: the error message, or "(no error)".
std::string parse_with(const std::string& section, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = fixture_config();
  j["architecture"][section][key] = value;
  return error_of([&] { parse_model_config(j.dump()); });
}

// A model directory: the fixture's weights (or `tensors` replacing some of them) and `config`.
struct ModelDir {
  test::TempDir dir;
  ModelDir(const nlohmann::json& config, const std::map<std::string, Tensor>& replace = {}, bool bf16 = false) {
    std::ofstream(dir.file("config.json")) << config.dump();
    if (replace.empty() && !bf16) {
      fs::copy_file(kFixture + "/model.safetensors", dir.file("model.safetensors"));
      return;
    }
    const SafetensorsFile src = SafetensorsFile::open(kFixture + "/model.safetensors");
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& e : src.entries()) {
      Tensor t = replace.count(e.name) ? replace.at(e.name) : src.tensor(e.name);
      out.emplace_back(e.name, bf16 ? t.to(DType::BF16) : t);
    }
    save_safetensors(dir.file("model.safetensors"), out, src.metadata());
  }
  std::string path() const { return dir.path().string(); }
};

Tensor filled(const Shape& s, float v) { return Tensor::full(s, v); }

}  // namespace

// Defect 4: these divided by zero (SIGFPE) in Model::load or in a posed forward.
TEST(HardeningConfig, ZeroPatchSizeAndHeadCountsNameTheField) {
  std::string msg = parse_with("net", "patch_size", 0);
  EXPECT_NE(msg.find("architecture.net: 'patch_size' is 0"), std::string::npos) << msg;
  msg = parse_with("cam_enc", "num_heads", 0);
  EXPECT_NE(msg.find("architecture.cam_enc: 'num_heads' is 0"), std::string::npos) << msg;
  msg = parse_with("net", "num_heads", 0);
  EXPECT_NE(msg.find("'num_heads' is 0"), std::string::npos) << msg;
  msg = parse_with("cam_enc", "num_heads", 5);  // 48 is not a multiple of 5
  EXPECT_NE(msg.find("dim_out must be a multiple of num_heads"), std::string::npos) << msg;
}

TEST(HardeningConfig, ModelLoadWithZeroPatchSizeIsAnErrorNotASignal) {
  nlohmann::json j = fixture_config();
  j["architecture"]["net"]["patch_size"] = 0;
  ModelDir d(j);
  const std::string msg = error_of([&] { Model::load(d.path()); });
  EXPECT_NE(msg.find("'patch_size'"), std::string::npos) << msg;
}

TEST(HardeningConfig, PosedForwardWithZeroCameraHeadsIsAnErrorNotASignal) {
  nlohmann::json j = fixture_config();
  j["architecture"]["cam_enc"]["num_heads"] = 0;
  ModelDir d(j);
  const std::string msg = error_of([&] {
    const Model m = Model::load(d.path());
    ForwardOptions f;
    f.extrinsics = Tensor::zeros({1, 1, 4, 4});
    f.intrinsics = Tensor::zeros({1, 1, 3, 3});
    for (int i = 0; i < 4; ++i) f.extrinsics.data_as<float>()[i * 5] = 1.f;
    for (int i = 0; i < 3; ++i) f.intrinsics.data_as<float>()[i * 4] = 50.f;
    m.forward(Tensor::zeros({1, 1, 3, 28, 28}), f);
  });
  EXPECT_NE(msg.find("cam_enc: 'num_heads' is 0"), std::string::npos) << msg;
}

// Defect 9: numbers were converted by nlohmann's get<int>(): truncated, wrapped, or UB.
TEST(HardeningConfig, IntegersAreReadStrictly) {
  std::string msg = parse_with("net", "depth", 4294967308.0);  // was read as 12
  EXPECT_NE(msg.find("'depth'"), std::string::npos) << msg;
  msg = parse_with("net", "depth", nlohmann::json::parse("4294967308"));  // unsigned integer literal
  EXPECT_NE(msg.find("'depth' is 4294967308, outside the range"), std::string::npos) << msg;
  msg = parse_with("net", "embed_dim", 384.9);  // was 384
  EXPECT_NE(msg.find("'embed_dim' must be an integer, got 384.9"), std::string::npos) << msg;
  msg = parse_with("net", "out_layers", nlohmann::json::parse("[6e28, 1, 2, 3]"));  // UB before
  EXPECT_NE(msg.find("'out_layers[0]' must be an integer"), std::string::npos) << msg;
  msg = parse_with("net", "depth", "6");
  EXPECT_NE(msg.find("'depth' has the wrong type (\"6\"); it must be an integer"), std::string::npos) << msg;
  msg = parse_with("head", "features", true);
  EXPECT_NE(msg.find("'features' has the wrong type (true)"), std::string::npos) << msg;
  // An integral float is an integer: still accepted, as before.
  EXPECT_EQ(parse_with("net", "depth", 6.0), "(no error)");
}

TEST(HardeningConfig, SizesAndRatiosAreRangeChecked) {
  // "Tensor::empty: negative size" came from deep inside the load before.
  std::string msg = parse_with("net", "mlp_ratio", -4);
  EXPECT_NE(msg.find("architecture.net: 'mlp_ratio' is -4"), std::string::npos) << msg;
  for (const char* key : {"embed_dim", "depth", "img_size"}) {
    msg = parse_with("net", key, -1);
    EXPECT_NE(msg.find(std::string("'") + key + "' is -1"), std::string::npos) << msg;
  }
  msg = parse_with("net", "alt_start", 6);  // depth is 6
  EXPECT_NE(msg.find("'alt_start' is 6"), std::string::npos) << msg;
  for (const char* key : {"features", "dim_in", "down_ratio"}) {
    msg = parse_with("head", key, 0);
    EXPECT_NE(msg.find(std::string("architecture.head: '") + key + "' is 0"), std::string::npos) << msg;
  }
  msg = parse_with("head", "out_channels", nlohmann::json::parse("[8, -16, 32, 32]"));
  EXPECT_NE(msg.find("'out_channels' is -16"), std::string::npos) << msg;
  msg = parse_with("cam_enc", "dim_out", -48);
  EXPECT_NE(msg.find("'dim_out' is -48"), std::string::npos) << msg;
  msg = parse_with("cam_dec", "dim_in", 0);
  EXPECT_NE(msg.find("architecture.cam_dec: 'dim_in' is 0"), std::string::npos) << msg;
}

// Defect 7: rope_freq 0 made every RoPE angle NaN and the depth exactly 1.0.
TEST(HardeningConfig, RopeFrequencyMustBePositive) {
  for (double f : {0.0, -100.0}) {
    const std::string msg = parse_with("net", "rope_freq", f);
    EXPECT_NE(msg.find("'rope_freq' is"), std::string::npos) << msg;
    EXPECT_NE(msg.find("must be positive"), std::string::npos) << msg;
  }
}

// Defect 7: a NaN input gave depth 1.0 and exit 0.
TEST(HardeningModel, NonFiniteInputIsRefused) {
  const Model m = Model::load(kFixture);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Tensor x = Tensor::zeros({1, 2, 3, 28, 28});
    x.data_as<float>()[x.numel() - 5] = bad;
    const std::string msg = error_of([&] { m.forward(x); });
    EXPECT_NE(msg.find("model input image"), std::string::npos) << msg;
    EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
  }
  ForwardOptions f;
  f.extrinsics = Tensor::zeros({1, 1, 4, 4});
  f.intrinsics = Tensor::full({1, 1, 3, 3}, std::numeric_limits<float>::quiet_NaN());
  const std::string msg = error_of([&] { m.forward(Tensor::zeros({1, 1, 3, 28, 28}), f); });
  EXPECT_NE(msg.find("intrinsics holds non-finite"), std::string::npos) << msg;
}

// Defect 10: N = 0 views and an int32 image were accepted.
TEST(HardeningModel, EmptyAndIntegerInputsAreRefused) {
  const Model m = Model::load(kFixture);
  std::string msg = error_of([&] { m.forward(Tensor::zeros({1, 0, 3, 28, 28})); });
  EXPECT_NE(msg.find("no views (N = 0)"), std::string::npos) << msg;
  msg = error_of([&] { m.forward(Tensor::zeros({1, 1, 3, 28, 28}).to(DType::I32)); });
  EXPECT_NE(msg.find("must be a float tensor"), std::string::npos) << msg;
  msg = error_of([&] { m.forward(Tensor::zeros({1, 1, 3, 28, 28}).to(DType::U8)); });
  EXPECT_NE(msg.find("must be a float tensor"), std::string::npos) << msg;
  EXPECT_EQ(error_of([&] { m.forward(Tensor::zeros({1, 1, 3, 28, 28}).to(DType::BF16)); }), "(no error)");
}

// Defect 7: a NaN-filled weight gave depth 1.0. Weights are checked where load (or the first
// use's packing) already reads them, naming the tensor.
TEST(HardeningModel, NonFiniteWeightsAreNamedWhereTheyAreRead) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string proj = "model.backbone.pretrained.blocks.0.attn.proj.weight";  // folded with ls1 at load
  {
    ModelDir d(fixture_config(), {{proj, filled({48, 48}, nan)}});
    const std::string msg = error_of([&] { Model::load(d.path()); });
    EXPECT_NE(msg.find("'" + proj + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
  }
  const std::string conv = "model.head.scratch.layer1_rn.weight";  // packed on first use
  {
    ModelDir d(fixture_config(), {{conv, filled({16, 8, 3, 3}, INFINITY)}});
    const std::string msg = error_of([&] { Model::load(d.path()).forward(Tensor::zeros({1, 1, 3, 28, 28})); });
    EXPECT_NE(msg.find(conv), std::string::npos) << msg;
    EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
  }
  const std::string norm = "model.backbone.pretrained.blocks.1.norm1.weight";  // converted at load from bf16
  {
    ModelDir d(fixture_config(), {{norm, filled({48}, nan)}}, /*bf16=*/true);
    const std::string msg = error_of([&] { Model::load(d.path()); });
    EXPECT_NE(msg.find("'" + norm + "'"), std::string::npos) << msg;
  }
}

// Defect 10: the stage times were one struct written by every concurrent forward(): calls
// running at once added into (and reset) each other's times, so one call's backbone time could
// exceed its whole duration and "other" (the remainder) came out negative.
TEST(HardeningModel, ConcurrentForwardsKeepConsistentStageTimes) {
  const Model m = Model::load(kFixture);
  const Tensor x = Tensor::zeros({1, 2, 3, 56, 56});
  m.forward(x);  // warm-up
  int inconsistent = 0;
  for (int round = 0; round < 20; ++round) {
    std::thread a([&] { m.forward(x); }), b([&] { m.forward(x); });
    a.join();
    b.join();
    const StageTimes t = m.last_stage_times();
    if (t.other_ms < 0 || t.backbone_ms <= 0 || t.head_ms <= 0) ++inconsistent;
  }
  EXPECT_EQ(inconsistent, 0);
}
