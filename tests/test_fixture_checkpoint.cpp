// The checkpoints save_pretrained wrote (tests/fixtures/*/model.safetensors) read back with
// every tensor name, shape and dtype of the torch state dict, recorded independently in
// manifest.json by tools/reference/make_fixtures.py, including the de-duplicated aliases.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "da3/checkpoint.hpp"
#include "da3/config.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

void check_fixture(const std::string& name) {
  const std::string dir = test::fixtures_dir() + "/" + name;
  std::ifstream in(dir + "/manifest.json");
  ASSERT_TRUE(in) << "missing " << dir << "/manifest.json (rerun tools/reference/make_fixtures.py)";
  const nlohmann::json manifest = nlohmann::json::parse(in);
  Checkpoint ckpt = Checkpoint::open(dir);
  EXPECT_NO_THROW(parse_model_config(ckpt.config_json()));

  size_t expected = 0;
  for (const auto& t : manifest.at("tensors")) {
    const std::string key = t.at("name");
    ++expected;
    ASSERT_TRUE(ckpt.contains(key)) << key;
    const SafetensorsEntry& e = ckpt.entry(key);
    EXPECT_EQ(e.shape, t.at("shape").get<Shape>()) << key;
    EXPECT_EQ(std::string(safetensors_dtype_name(e.dtype)), t.at("dtype").get<std::string>()) << key;
    EXPECT_EQ(ckpt.is_alias(key), !t.at("stored").get<bool>()) << key;
  }
  EXPECT_EQ(ckpt.names().size(), expected) << "checkpoint names more tensors than the state dict";
  for (const auto& [alias, target] : manifest.at("aliases").items()) {
    EXPECT_EQ(ckpt.aliases().at(alias), target.get<std::string>());
    EXPECT_EQ(ckpt.tensor(alias).data(), ckpt.tensor(target.get<std::string>()).data());
  }
}

}  // namespace

TEST(FixtureCheckpoint, AnyviewMatchesStateDict) { check_fixture("tiny-anyview"); }
TEST(FixtureCheckpoint, MonoMatchesStateDict) { check_fixture("tiny-mono"); }
TEST(FixtureCheckpoint, GiantLikeMatchesStateDict) { check_fixture("tiny-giant-like"); }
