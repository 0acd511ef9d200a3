// The dense heads (DualDPT, DPT) against the reference (tests/fixtures, written by
// tools/reference/make_fixtures.py): the head is fed the recorded backbone features and must
// reproduce the recorded head intermediates and outputs in fp32. Also: strict weight binding
// (every head tensor used, shared aux LayerNorm aliases resolved, mis-shaped weights reported).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <type_traits>

#include "da3/checkpoint.hpp"
#include "da3/config.hpp"
#include "da3/safetensors.hpp"
#include "model/dpt.hpp"
#include "model/dualdpt.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr double kTol = 1e-4;  // fp32 paths, norm-wise relative (DESIGN.md)

// The model holds its heads by value (e.g. in a std::optional): they must stay movable.
static_assert(std::is_move_constructible_v<model::DualDPT> && std::is_move_assignable_v<model::DualDPT>);
static_assert(std::is_move_constructible_v<model::DPT> && std::is_move_assignable_v<model::DPT>);

struct Fixture {
  Checkpoint ckpt;
  ModelConfig cfg;
};

Fixture open_fixture(const std::string& name) {
  const std::string dir = test::fixtures_dir() + "/" + name;
  Checkpoint ckpt = Checkpoint::open(dir);
  ModelConfig cfg = parse_model_config(ckpt.config_json());
  return {std::move(ckpt), std::move(cfg)};
}

// Weights scoped at the head, with everything outside the head marked as used so finish()
// judges the head alone.
model::Weights head_weights(const Checkpoint& ckpt) {
  model::Weights root(ckpt);
  for (const std::string& other : {"backbone", "cam_enc", "cam_dec"}) root.child("model").ignore_subtree(other);
  return root.child("model").child("head");
}

std::vector<Tensor> features(const SafetensorsFile& f) {
  std::vector<Tensor> v;
  for (int k = 0; k < 4; ++k) v.push_back(f.tensor("backbone.out." + std::to_string(k) + ".patch_tokens"));
  return v;
}

// Reference NCHW (1, N, C, h, w) -> our NHWC (N, h, w, C).
Tensor as_nhwc(const Tensor& t) { return t.select(0, 0).permute({0, 2, 3, 1}).contiguous(); }

struct Run {
  model::HeadOutput out;
  std::map<std::string, Tensor> taps;
};

template <class Head>
Run run_head(const Head& head, const SafetensorsFile& ref, bool compute_aux) {
  const Tensor image = ref.tensor("image");
  Run r;
  model::HeadHooks hooks;
  // The head runs kHeadViewsPerPass views at a time: each pass's maps are appended on the view axis.
  hooks.tap = [&](const std::string& name, int64_t first_view, const Tensor& t) {
    auto it = r.taps.find(name);
    if (first_view == 0 || it == r.taps.end()) {
      EXPECT_EQ(first_view, 0) << name << ": the first pass starts at view 0";
      r.taps[name] = t.clone();
      return;
    }
    const Tensor& had = it->second;
    EXPECT_EQ(first_view, had.size(0)) << name << ": passes arrive in view order";
    Shape s = had.shape();
    s[0] += t.size(0);
    Tensor all = Tensor::empty(s);
    all.slice(0, 0, had.size(0)).copy_from(had);
    all.slice(0, had.size(0), s[0]).copy_from(t);
    it->second = all;
  };
  r.out = head.forward(features(ref), image.size(3), image.size(4), compute_aux, &hooks);
  return r;
}

void expect_intermediates(const Run& r, const SafetensorsFile& ref, const std::string& where) {
  for (int k = 0; k < 4; ++k) {
    const std::string name = "resize." + std::to_string(k);
    EXPECT_LT(test::rel_err(r.taps.at(name), as_nhwc(ref.tensor("head." + name))), kTol) << where << " " << name;
  }
  EXPECT_LT(test::rel_err(r.taps.at("output_conv1"), as_nhwc(ref.tensor("head.output_conv1"))), kTol)
      << where << " output_conv1";
}

void check_dualdpt_case(const std::string& fixture, const std::string& case_name) {
  const std::string file = test::fixtures_dir() + "/" + fixture + "/forward_" + case_name + ".safetensors";
  // Committed fixtures: a missing one is a broken checkout, not a reason to skip.
  ASSERT_TRUE(std::filesystem::exists(file))
      << "fixture missing: " << file << " (rerun tools/reference/make_fixtures.py)";
  Fixture fx = open_fixture(fixture);
  ASSERT_EQ(fx.cfg.net.head.type, "DualDPT");
  const model::Weights w = head_weights(fx.ckpt);
  model::DualDPT head(w, fx.cfg.net.head);
  w.finish();  // every head tensor bound, the de-duplicated aux LayerNorm aliases included
  const SafetensorsFile ref = SafetensorsFile::open(file);
  const std::string where = fixture + "/" + case_name;

  const bool has_ray = ref.contains("head.ray");
  const Run r = run_head(head, ref, /*compute_aux=*/has_ray);
  expect_intermediates(r, ref, where);
  const double e_depth = test::rel_err(r.out.depth, ref.tensor("depth"));
  const double e_conf = test::rel_err(r.out.depth_conf, ref.tensor("depth_conf"));
  EXPECT_LT(e_depth, kTol) << where << " depth " << r.out.depth.describe();
  EXPECT_LT(e_conf, kTol) << where << " depth_conf";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: depth %.2e, depth_conf %.2e", where.c_str(), e_depth, e_conf);
  std::string line = buf;
  if (has_ray) {
    const double e_ray = test::rel_err(r.out.ray, ref.tensor("head.ray"));
    const double e_ray_conf = test::rel_err(r.out.ray_conf, ref.tensor("head.ray_conf"));
    EXPECT_LT(e_ray, kTol) << where << " ray " << r.out.ray.describe();
    EXPECT_LT(e_ray_conf, kTol) << where << " ray_conf";
    std::snprintf(buf, sizeof buf, ", ray %.2e, ray_conf %.2e", e_ray, e_ray_conf);
    line += buf;
  } else {
    EXPECT_FALSE(r.out.ray.defined());
    EXPECT_FALSE(r.out.ray_conf.defined());
  }
  std::printf("[ rel err  ] %s\n", line.c_str());
  EXPECT_FALSE(r.out.sky.defined());

  // The aux branch is independent of the main one: skipping or running it changes nothing.
  const Run other = run_head(head, ref, !has_ray);
  EXPECT_EQ(test::rel_err(other.out.depth, r.out.depth), 0.0) << where;
  EXPECT_EQ(test::rel_err(other.out.depth_conf, r.out.depth_conf), 0.0) << where;
}

void check_dpt_case(const std::string& fixture, const std::string& case_name) {
  const std::string file = test::fixtures_dir() + "/" + fixture + "/forward_" + case_name + ".safetensors";
  ASSERT_TRUE(std::filesystem::exists(file))
      << "fixture missing: " << file << " (rerun tools/reference/make_fixtures.py)";
  Fixture fx = open_fixture(fixture);
  ASSERT_EQ(fx.cfg.net.head.type, "DPT");
  const model::Weights w = head_weights(fx.ckpt);
  model::DPT head(w, fx.cfg.net.head);
  w.finish();
  const SafetensorsFile ref = SafetensorsFile::open(file);
  const std::string where = fixture + "/" + case_name;

  const Run r = run_head(head, ref, false);
  expect_intermediates(r, ref, where);
  // The head's depth before the network replaces sky pixels ("head.depth"; "depth" when the
  // reference stored it once because nothing was replaced).
  const Tensor ref_depth = ref.contains("head.depth") ? ref.tensor("head.depth") : ref.tensor("depth");
  const double e_depth = test::rel_err(r.out.depth, ref_depth);
  const double e_sky = test::rel_err(r.out.sky, ref.tensor("sky"));
  EXPECT_LT(e_depth, kTol) << where << " depth " << r.out.depth.describe();
  EXPECT_LT(e_sky, kTol) << where << " sky " << r.out.sky.describe();
  EXPECT_FALSE(r.out.depth_conf.defined()) << "output_dim 1: no confidence";
  EXPECT_FALSE(r.out.ray.defined());
  std::printf("[ rel err  ] %s: depth %.2e, sky %.2e\n", where.c_str(), e_depth, e_sky);
}

// (1, N, ...) -> (1, reps·N, ...), the N views repeated.
Tensor repeat_views(const Tensor& t, int64_t reps) {
  Shape s = t.shape();
  const int64_t n = s[1];
  s[1] = n * reps;
  Tensor out = Tensor::empty(s);
  const Tensor c = t.contiguous();
  const size_t bytes = c.nbytes();
  for (int64_t r = 0; r < reps; ++r) std::memcpy(static_cast<char*>(out.data()) + r * bytes, c.data(), bytes);
  return out;
}

// A copy of a fixture's checkpoint with `edit` applied to its tensor list (every alias
// stored as its own tensor, which the loader must accept too).
void write_edited_checkpoint(const std::string& fixture, const std::string& dir,
                             const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit) {
  const std::string src = test::fixtures_dir() + "/" + fixture;
  const Checkpoint ckpt = Checkpoint::open(src);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : ckpt.names()) tensors.emplace_back(n, ckpt.tensor(n));
  edit(tensors);
  save_safetensors(dir + "/model.safetensors", tensors);
  std::filesystem::copy_file(src + "/config.json", dir + "/config.json");
}

// Head-only fixtures for options no preset uses (tools/reference/make_head_fixtures.py):
// the checkpoint holds the head alone, so binding is checked against the whole file.
template <class Head>
void check_variant(const std::string& name, const std::string& case_name) {
  const std::string dir = test::fixtures_dir() + "/head-variants/" + name;
  const std::string file = dir + "/head_" + case_name + ".safetensors";
  ASSERT_TRUE(std::filesystem::exists(file))
      << "fixture missing: " << file << " (rerun tools/reference/make_head_fixtures.py)";
  const Checkpoint ckpt = Checkpoint::open(dir);
  const ModelConfig cfg = parse_model_config(ckpt.config_json());
  const model::Weights root(ckpt);
  Head head(root.child("model").child("head"), cfg.net.head);
  root.finish();
  const SafetensorsFile ref = SafetensorsFile::open(file);
  std::vector<Tensor> feats;
  for (int k = 0; k < 4; ++k) feats.push_back(ref.tensor("feats." + std::to_string(k)));
  const int64_t H = std::stoll(ref.metadata().at("height")), W = std::stoll(ref.metadata().at("width"));
  const model::HeadOutput out = head.forward(feats, H, W, /*compute_aux=*/true);

  const std::pair<const char*, const Tensor*> outputs[] = {{"depth", &out.depth},
                                                           {"depth_conf", &out.depth_conf},
                                                           {"ray", &out.ray},
                                                           {"ray_conf", &out.ray_conf},
                                                           {"sky", &out.sky}};
  std::string line = "head-variants/" + name + "/" + case_name + ":";
  for (const auto& [key, t] : outputs) {
    if (!ref.contains(key)) {
      EXPECT_FALSE(t->defined()) << name << ": " << key << " is not a reference output";
      continue;
    }
    const double e = test::rel_err(*t, ref.tensor(key));
    EXPECT_LT(e, kTol) << name << " " << key << " " << (t->defined() ? t->describe() : "undefined");
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.2e", key, e);
    line += buf;
  }
  std::printf("[ rel err  ] %s\n", line.c_str());
}

}  // namespace

TEST(DualDPT, TinyAnyview1View) { check_dualdpt_case("tiny-anyview", "1view_112x84"); }
TEST(DualDPT, TinyAnyview4Views) { check_dualdpt_case("tiny-anyview", "4view_56x70"); }
TEST(DualDPT, TinyAnyview3ViewsPosed) { check_dualdpt_case("tiny-anyview", "3view_posed_70x56"); }
TEST(DualDPT, TinyAnyviewRayBranch) { check_dualdpt_case("tiny-anyview", "2view_raypose_56x70"); }
TEST(DualDPT, TinyGiantLike1View) { check_dualdpt_case("tiny-giant-like", "1view_70x98"); }
TEST(DualDPT, TinyGiantLike3Views) { check_dualdpt_case("tiny-giant-like", "3view_56x70"); }
TEST(DPT, TinyMonoSquare) { check_dpt_case("tiny-mono", "1view_70x70"); }
TEST(DPT, TinyMonoNonSquare) { check_dpt_case("tiny-mono", "1view_84x70"); }

// output_dim 4 (3 values: depth keeps a channel axis), down_ratio 2, UV pos-embed, 5 aux
// levels (pre-head stack 3, output stack 4 are the ones used), 3 aux pre-convs, expm1.
TEST(DualDPT, NonPresetOptions) { check_variant<model::DualDPT>("dualdpt", "2view_56x42"); }
// output_dim 3 (values + confidence), down_ratio 2, UV pos-embed, softplus / sigmoid, sigmoid sky.
TEST(DPT, NonPresetOptions) { check_variant<model::DPT>("dpt", "2view_42x70"); }

TEST(DualDPT, MoreViewsThanOneChunk) {
  // 2 views repeated 6 times = 12 views: two chunks (8 + 4), each view's output in its place.
  Fixture fx = open_fixture("tiny-anyview");
  model::DualDPT head(head_weights(fx.ckpt), fx.cfg.net.head);
  const SafetensorsFile ref =
      SafetensorsFile::open(test::fixtures_dir() + "/tiny-anyview/forward_2view_raypose_56x70.safetensors");
  std::vector<Tensor> feats;
  for (const Tensor& f : features(ref)) feats.push_back(repeat_views(f, 6));
  const model::HeadOutput out = head.forward(feats, 56, 70, /*compute_aux=*/true);
  ASSERT_EQ(out.depth.shape(), (Shape{1, 12, 56, 70}));
  ASSERT_EQ(out.ray.shape(), (Shape{1, 12, 32, 40, 6}));
  EXPECT_LT(test::rel_err(out.depth, repeat_views(ref.tensor("depth"), 6)), kTol);
  EXPECT_LT(test::rel_err(out.depth_conf, repeat_views(ref.tensor("depth_conf"), 6)), kTol);
  EXPECT_LT(test::rel_err(out.ray, repeat_views(ref.tensor("head.ray"), 6)), kTol);
  EXPECT_LT(test::rel_err(out.ray_conf, repeat_views(ref.tensor("head.ray_conf"), 6)), kTol);
}

TEST(DualDPT, RejectsMisshapedFeatures) {
  Fixture fx = open_fixture("tiny-anyview");
  model::DualDPT head(head_weights(fx.ckpt), fx.cfg.net.head);
  const SafetensorsFile ref =
      SafetensorsFile::open(test::fixtures_dir() + "/tiny-anyview/forward_2view_raypose_56x70.safetensors");
  try {
    head.forward(features(ref), 70, 70, false);  // 5x5 patches expected, features have 4x5
    FAIL() << "expected da3::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DualDPT: feature 0 must be f32 (1, 2, 25, 96)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(head.forward({features(ref)[0]}, 56, 70, false), Error);
}

TEST(HeadWeights, MisshapedWeightIsReportedByName) {
  test::TempDir tmp;
  write_edited_checkpoint("tiny-anyview", tmp.path().string(), [](auto& tensors) {
    for (auto& [name, t] : tensors)
      if (name == "model.head.scratch.output_conv1.weight") t = Tensor::zeros({8, 16, 1, 1});  // (8, 16, 3, 3)
  });
  const Checkpoint ckpt = Checkpoint::open(tmp.path().string());
  const ModelConfig cfg = parse_model_config(ckpt.config_json());
  const model::Weights w = head_weights(ckpt);
  model::DualDPT head(w, cfg.net.head);  // binding goes on, so that all problems are listed
  try {
    w.finish();
    FAIL() << "expected da3::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.head.scratch.output_conv1.weight: file has [8, 16, 1, 1], model expects [8, 16, 3, 3]"),
              std::string::npos)
        << msg;
  }
}

TEST(HeadWeights, MissingAndUnexpectedTensorsAreReported) {
  // The aux levels whose results the reference discards are bound too: a checkpoint without
  // one of their tensors is incomplete.
  test::TempDir tmp;
  write_edited_checkpoint("tiny-anyview", tmp.path().string(), [](auto& tensors) {
    std::erase_if(tensors, [](const auto& p) { return p.first == "model.head.scratch.output_conv1_aux.0.4.bias"; });
    tensors.emplace_back("model.head.scratch.extra.weight", Tensor::zeros({2}));
  });
  const Checkpoint ckpt = Checkpoint::open(tmp.path().string());
  const ModelConfig cfg = parse_model_config(ckpt.config_json());
  const model::Weights w = head_weights(ckpt);
  model::DualDPT head(w, cfg.net.head);
  try {
    w.finish();
    FAIL() << "expected da3::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing tensors (1):\n    model.head.scratch.output_conv1_aux.0.4.bias [8]"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("unexpected tensors (1):\n    model.head.scratch.extra.weight"), std::string::npos) << msg;
  }
}

TEST(HeadWeights, ConfigThatDisagreesWithTheCheckpoint) {
  Fixture fx = open_fixture("tiny-anyview");
  HeadConfig cfg = fx.cfg.net.head;
  cfg.features = 32;  // the checkpoint has 16
  const model::Weights w = head_weights(fx.ckpt);
  model::DualDPT head(w, cfg);
  try {
    w.finish();
    FAIL() << "expected da3::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "model.head.scratch.layer1_rn.weight: file has [16, 8, 3, 3], model expects [32, 8, 3, 3]"),
              std::string::npos)
        << e.what();
  }
  // An aux stack depth the reference does not have.
  HeadConfig bad = fx.cfg.net.head;
  bad.aux_out1_conv_num = 4;
  EXPECT_THROW(model::DualDPT(head_weights(fx.ckpt), bad), Error);
  bad = fx.cfg.net.head;
  bad.activation = "exponential";
  EXPECT_THROW(model::DualDPT(head_weights(fx.ckpt), bad), Error);
}
