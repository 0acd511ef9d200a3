// The DINOv2 backbone port against the reference's intermediates (tests/fixtures, written by
// tools/reference/make_fixtures.py): tokens after patch + position embedding, every block's
// output, the tapped features and camera tokens, and the reference view chosen.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "da3/checkpoint.hpp"
#include "da3/config.hpp"
#include "da3/safetensors.hpp"
#include "model/dinov2/vision_transformer.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr double kTol = 1e-4;  // fp32 paths, norm-wise relative (DESIGN.md)

void check_case(const std::string& fixture, const std::string& case_name, AttentionBackend backend) {
  const std::string dir = test::fixtures_dir() + "/" + fixture;
  const std::string file = dir + "/forward_" + case_name + ".safetensors";
  // Committed fixtures: a missing one is a broken checkout, not a reason to skip.
  ASSERT_TRUE(std::filesystem::exists(file)) << "fixture missing: " << file << " (rerun tools/reference/make_fixtures.py)";
  Checkpoint ckpt = Checkpoint::open(dir);
  ModelConfig cfg = parse_model_config(ckpt.config_json());
  model::Weights w = model::Weights(ckpt).child("model").child("backbone").child("pretrained");
  model::DinoVisionTransformer vit(w, cfg.net.backbone);
  SafetensorsFile ref = SafetensorsFile::open(file);

  std::map<std::string, Tensor> taps;
  model::BackboneHooks hooks;
  hooks.tap = [&](const std::string& name, const Tensor& t) { taps[name] = t.clone(); };
  Tensor cam_token;
  if (ref.contains("cam_enc.tokens")) cam_token = ref.tensor("cam_enc.tokens");
  AttentionOptions attn;
  attn.backend = backend;
  model::BackboneOutput out = vit.forward(ref.tensor("image"), cam_token, model::RefViewStrategy::SaddleBalanced, attn, &hooks);

  EXPECT_LT(test::rel_err(taps.at("patch_embed"), ref.tensor("backbone.tokens")), kTol) << "tokens";
  for (int i = 0; i < cfg.net.backbone.depth; ++i) {
    const std::string name = "backbone.blocks." + std::to_string(i) + ".out";
    EXPECT_LT(test::rel_err(taps.at("block." + std::to_string(i)), ref.tensor(name)), kTol) << name;
  }
  ASSERT_EQ(out.features.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    const std::string p = "backbone.out." + std::to_string(k);
    EXPECT_LT(test::rel_err(out.features[k], ref.tensor(p + ".patch_tokens")), kTol) << p;
    EXPECT_LT(test::rel_err(out.camera_tokens[k], ref.tensor(p + ".token0")), kTol) << p;
  }
  if (ref.contains("backbone.ref_view_index")) {
    ASSERT_EQ(out.ref_view.size(), 1u);
    EXPECT_EQ(out.ref_view[0], ref.tensor("backbone.ref_view_index").data_as<int64_t>()[0]);
  } else {
    EXPECT_TRUE(out.ref_view.empty());
  }
}

}  // namespace

TEST(Backbone, AnyviewOneView) { check_case("tiny-anyview", "1view_112x84", AttentionBackend::Manual); }
TEST(Backbone, AnyviewOneViewDefaultBackend) { check_case("tiny-anyview", "1view_112x84", AttentionBackend::Auto); }
TEST(Backbone, AnyviewFourViewsSelectsReference) { check_case("tiny-anyview", "4view_56x70", AttentionBackend::Manual); }
TEST(Backbone, AnyviewFourViewsSelectsReferenceDefaultBackend) { check_case("tiny-anyview", "4view_56x70", AttentionBackend::Auto); }
TEST(Backbone, AnyviewPosedCameraTokens) { check_case("tiny-anyview", "3view_posed_70x56", AttentionBackend::Manual); }
TEST(Backbone, AnyviewPosedCameraTokensDefaultBackend) { check_case("tiny-anyview", "3view_posed_70x56", AttentionBackend::Auto); }
TEST(Backbone, MonoPosEmbedAsStored) { check_case("tiny-mono", "1view_70x70", AttentionBackend::Manual); }
TEST(Backbone, MonoPosEmbedAsStoredDefaultBackend) { check_case("tiny-mono", "1view_70x70", AttentionBackend::Auto); }
TEST(Backbone, MonoPosEmbedResampled) { check_case("tiny-mono", "1view_84x70", AttentionBackend::Manual); }
TEST(Backbone, MonoPosEmbedResampledDefaultBackend) { check_case("tiny-mono", "1view_84x70", AttentionBackend::Auto); }
TEST(Backbone, GiantLikeSwiGluOneView) { check_case("tiny-giant-like", "1view_70x98", AttentionBackend::Manual); }
TEST(Backbone, GiantLikeSwiGluOneViewDefaultBackend) { check_case("tiny-giant-like", "1view_70x98", AttentionBackend::Auto); }
TEST(Backbone, GiantLikeThreeViews) { check_case("tiny-giant-like", "3view_56x70", AttentionBackend::Manual); }
TEST(Backbone, GiantLikeThreeViewsDefaultBackend) { check_case("tiny-giant-like", "3view_56x70", AttentionBackend::Auto); }
