// Checkpoint directories: single file, sharded, de-duplicated aliases, and the errors a user
// sees for a directory that is not a complete model.
#include <gtest/gtest.h>

#include <fstream>

#include "da3/checkpoint.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string error_of(const std::string& dir) {
  try {
    Checkpoint::open(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Checkpoint, ResolvesSavePretrainedAliases) {
  test::TempDir d;
  write_text(d.file("config.json"), R"({"model_name": "da3-small"})");
  // As safetensors' save_model writes shared tensors: one copy, the others named in metadata.
  save_safetensors(d.file("model.safetensors"), {{"head.norm.0.weight", Tensor::full({3}, 1.5f)}},
                   {{"format", "pt"}, {"head.norm.1.weight", "head.norm.0.weight"},
                    {"head.norm.2.weight", "head.norm.0.weight"}});
  Checkpoint c = Checkpoint::open(d.path().string());
  EXPECT_TRUE(c.contains("head.norm.2.weight"));
  EXPECT_TRUE(c.is_alias("head.norm.1.weight"));
  EXPECT_FALSE(c.contains("format"));
  EXPECT_EQ(c.names().size(), 3u);
  EXPECT_EQ(c.tensor("head.norm.2.weight").item_f({1}), 1.5f);
  EXPECT_EQ(c.tensor("head.norm.2.weight").data(), c.tensor("head.norm.0.weight").data());
  EXPECT_NE(c.config_json().find("da3-small"), std::string::npos);
}

TEST(Checkpoint, ReadsShardedSets) {
  test::TempDir d;
  write_text(d.file("config.json"), R"({"model_name": "da3-small"})");
  save_safetensors(d.file("model-00001-of-00002.safetensors"), {{"a", Tensor::full({2}, 1.f)}});
  save_safetensors(d.file("model-00002-of-00002.safetensors"), {{"b", Tensor::full({2}, 2.f)}});
  write_text(d.file("model.safetensors.index.json"),
             R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  Checkpoint c = Checkpoint::open(d.path().string());
  EXPECT_EQ(c.tensor("b").item_f({0}), 2.f);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b"}));
}

TEST(Checkpoint, ClearErrorsForIncompleteDirectories) {
  test::TempDir d;
  EXPECT_NE(error_of(d.file("missing")).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of(d.path().string()).find("no config.json"), std::string::npos);
  write_text(d.file("config.json"), R"({"model_name": "da3-small"})");
  const std::string msg = error_of(d.path().string());
  EXPECT_NE(msg.find("neither model.safetensors nor model.safetensors.index.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("da3 pull"), std::string::npos) << msg;
  write_text(d.file("model.safetensors"), "garbage!garbage!");
  EXPECT_NE(error_of(d.path().string()).find("model.safetensors"), std::string::npos);
}
