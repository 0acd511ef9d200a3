// The ViT block's memory savers change no result: the MLP run on slices of rows (many views)
// against the same block run on fewer rows at a time, and the attention that reuses its handed-over
// input's buffer against the one that leaves its input alone.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "da3/checkpoint.hpp"
#include "da3/safetensors.hpp"
#include "model/dinov2/block.hpp"
#include "model/weights.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr int64_t kDim = 16, kHeads = 2;
constexpr double kMlpRatio = 512.0;  // hidden 8192: slices of 1024 rows (32 MiB of hidden each)

Checkpoint block_checkpoint(const test::TempDir& d) {
  std::vector<std::pair<std::string, Tensor>> ts;
  uint32_t seed = 1;
  const auto add = [&](const std::string& name, const Shape& shape, float stddev) {
    ts.emplace_back(name, test::randn(shape, seed++, stddev));
  };
  const int64_t hidden = static_cast<int64_t>(kDim * kMlpRatio);
  for (const char* n : {"norm1", "norm2"}) {
    add(std::string(n) + ".weight", {kDim}, 1.f);
    add(std::string(n) + ".bias", {kDim}, 0.1f);
  }
  add("ls1.gamma", {kDim}, 0.5f);
  add("ls2.gamma", {kDim}, 0.5f);
  add("attn.qkv.weight", {3 * kDim, kDim}, 0.3f);
  add("attn.qkv.bias", {3 * kDim}, 0.1f);
  add("attn.proj.weight", {kDim, kDim}, 0.3f);
  add("attn.proj.bias", {kDim}, 0.1f);
  add("mlp.fc1.weight", {hidden, kDim}, 0.3f);
  add("mlp.fc1.bias", {hidden}, 0.1f);
  add("mlp.fc2.weight", {kDim, hidden}, 0.02f);
  add("mlp.fc2.bias", {kDim}, 0.1f);
  save_safetensors(d.file("model.safetensors"), ts);
  std::ofstream(d.file("config.json")) << "{}";
  return Checkpoint::open(d.path().string());
}

}  // namespace

TEST(BlockMemory, MlpOnSlicesOfRowsEqualsFewerRowsAtATime) {
  test::TempDir d;
  const Checkpoint ckpt = block_checkpoint(d);
  const model::Block block(model::Weights(ckpt), kDim, kHeads, kMlpRatio, "mlp", false, false, 100.f);
  // 2,500 one-token views: 2,500 rows, three MLP slices (1024, 1024, 452) in one call.
  const int64_t views = 2500;
  const Tensor x0 = test::randn({views, 1, kDim}, 50);
  Tensor whole = x0.clone();
  block.forward(whole, Tensor(), {});
  // The same rows in pieces of at most 1,000 (each one slice).
  Tensor pieces = x0.clone();
  for (int64_t v0 = 0; v0 < views; v0 += 1000) {
    Tensor part = pieces.slice(0, v0, std::min(views, v0 + 1000)).clone();
    block.forward(part, Tensor(), {});
    pieces.slice(0, v0, std::min(views, v0 + 1000)).copy_from(part);
  }
  EXPECT_LT(test::rel_err(whole, pieces), 1e-6);
  float worst = 0.f;  // pointwise too: a slice written to the wrong rows cannot hide in the norm
  for (int64_t i = 0; i < whole.numel(); ++i)
    worst = std::max(worst, std::abs(whole.data_as<float>()[i] - pieces.data_as<float>()[i]));
  EXPECT_LT(worst, 1e-5f);
  EXPECT_GT(test::rel_err(whole, x0), 1e-2);  // and the block did change x
}

TEST(BlockMemory, AttentionOnAHandedOverInputEqualsTheOneThatKeepsIt) {
  test::TempDir d;
  const Checkpoint ckpt = block_checkpoint(d);
  const model::Attention attn(model::Weights(ckpt).child("attn"), kDim, kHeads, false, false, 100.f);
  const Tensor x = test::randn({3, 40, kDim}, 60);
  const Tensor before = x.clone();
  const Tensor kept = attn.forward(x, Tensor(), {});
  EXPECT_EQ(test::rel_err(x, before), 0.0) << "forward(const Tensor&) changed its input";
  Tensor mine = x.clone();
  const void* buffer = mine.data();
  const Tensor handed = attn.forward(std::move(mine), Tensor(), {});
  EXPECT_LT(test::rel_err(handed, kept), 1e-6);
  EXPECT_NE(handed.data(), buffer);  // the projection's output is new; the input held the attention's
}
