#include <gtest/gtest.h>

#include <functional>

#include "da3/config.hpp"
#include "da3/error.hpp"

using namespace da3;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, PresetsMatchTheReferenceYaml) {
  ASSERT_EQ(preset_names().size(), 7u);
  const ModelConfig s = preset_config("da3-small");
  EXPECT_EQ(s.net.backbone.embed_dim, 384);
  EXPECT_EQ(s.net.backbone.num_heads, 6);
  EXPECT_EQ(s.net.backbone.depth, 12);
  EXPECT_EQ(s.net.backbone.out_layers, (std::vector<int>{5, 7, 9, 11}));
  EXPECT_EQ(s.net.backbone.alt_start, 4);
  EXPECT_EQ(s.net.backbone.rope_start, 4);
  EXPECT_TRUE(s.net.backbone.cat_token);
  EXPECT_EQ(s.net.head.type, "DualDPT");
  EXPECT_EQ(s.net.head.dim_in, 768);
  EXPECT_EQ(s.net.head.features, 64);
  EXPECT_EQ(s.net.head.out_channels, (std::vector<int>{48, 96, 192, 384}));
  ASSERT_TRUE(s.net.cam_enc && s.net.cam_dec);
  EXPECT_EQ(s.net.cam_enc->dim_out, 384);
  EXPECT_EQ(s.net.cam_dec->dim_in, 768);
  EXPECT_FALSE(s.nested());

  const ModelConfig g = preset_config("da3-giant");
  EXPECT_EQ(g.net.backbone.ffn_layer, "swiglufused");
  EXPECT_EQ(g.net.backbone.out_layers, (std::vector<int>{19, 27, 33, 39}));
  EXPECT_EQ(g.net.backbone.alt_start, 13);
  EXPECT_TRUE(g.net.has_gs_head);

  const ModelConfig m = preset_config("da3mono-large");
  EXPECT_EQ(m.net.head.type, "DPT");
  EXPECT_EQ(m.net.backbone.alt_start, -1);
  EXPECT_FALSE(m.net.backbone.cat_token);
  EXPECT_EQ(m.net.backbone.out_layers, (std::vector<int>{4, 11, 17, 23}));
  EXPECT_FALSE(m.net.cam_dec.has_value());

  const ModelConfig n = preset_config("da3nested-giant-large");
  ASSERT_TRUE(n.nested());
  EXPECT_EQ(n.net.backbone.name, "vitg");
  EXPECT_EQ(n.metric->backbone.name, "vitl");
  EXPECT_EQ(n.metric->head.type, "DPT");
}

TEST(Config, UnknownPresetListsTheKnownOnes) {
  const std::string msg = error_of([] { preset_config("da3-tiny"); });
  EXPECT_NE(msg.find("'da3-tiny'"), std::string::npos) << msg;
  for (const auto& n : preset_names()) EXPECT_NE(msg.find(n), std::string::npos) << msg;
}

TEST(Config, PublishedConfigJsonNamesAPreset) {
  const ModelConfig c = parse_model_config(R"({"model_name": "da3-base"})");
  EXPECT_EQ(c.model_name, "da3-base");
  EXPECT_EQ(c.net.backbone.embed_dim, 768);
  EXPECT_NE(error_of([] { parse_model_config("{}"); }).find("model_name"), std::string::npos);
  EXPECT_NE(error_of([] { parse_model_config("{not json"); }).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_model_config(R"({"model_name": "nope"})"); }).find("known presets"), std::string::npos);
}

TEST(Config, ExplicitArchitecture) {
  const ModelConfig c = parse_model_config(R"({
    "model_name": "da3-small",
    "architecture": {
      "net": {"name": "custom", "embed_dim": 64, "depth": 6, "num_heads": 2, "img_size": 126,
              "out_layers": [1, 3, 4, 5], "alt_start": 2, "qknorm_start": 2, "rope_start": 2, "cat_token": true},
      "head": {"type": "DualDPT", "dim_in": 128, "features": 16, "out_channels": [8, 16, 32, 64]},
      "cam_enc": {"dim_out": 64, "num_heads": 2},
      "cam_dec": {"dim_in": 128}
    }})");
  EXPECT_EQ(c.net.backbone.embed_dim, 64);
  EXPECT_EQ(c.net.backbone.img_size, 126);
  EXPECT_EQ(c.net.head.output_dim, 2);  // DualDPT default
  EXPECT_TRUE(c.net.head.pos_embed);    // DualDPT default
  EXPECT_EQ(c.net.cam_enc->num_heads, 2);
  EXPECT_EQ(c.net.cam_enc->trunk_depth, 4);
}

TEST(Config, ExplicitArchitectureErrorsNameThePlace) {
  EXPECT_NE(error_of([] {
              parse_model_config(R"({"architecture": {"net": {"name": "vits", "out_layers": [1,2,3,4], "depht": 3},
                                     "head": {"type": "DPT", "dim_in": 1, "features": 1, "out_channels": [1,1,1,1]}}})");
            }).find("architecture.net: unknown key 'depht'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_model_config(R"({"architecture": {"net": {"name": "vits", "out_layers": [1,2,3,40]},
                                     "head": {"type": "DPT", "dim_in": 1, "features": 1, "out_channels": [1,1,1,1]}}})");
            }).find("out_layers entry 40"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_model_config(R"({"architecture": {"net": {"name": "vits", "out_layers": [1,2,3,4]},
                                     "head": {"type": "UNet", "dim_in": 1, "features": 1, "out_channels": [1,1,1,1]}}})");
            }).find("'UNet'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_model_config(R"({"architecture": {"net": {"embed_dim": "big", "out_layers": [1,2,3,4]}, "head": {}}})"); })
                .find("'embed_dim' has the wrong type"),
            std::string::npos);
}
