// The 3D Gaussian head (GSDPT + GaussianAdapter, the reference's infer_gs=True) against
// tests/fixtures/tiny-giant-gs (tools/reference/make_gs_fixture.py): every Gaussian field within
// 1e-4 norm-wise relative, the SH rotation on its own, the Umeyama pose scale, the refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <map>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "da3/config.hpp"
#include "da3/model.hpp"
#include "da3/pipeline.hpp"
#include "da3/safetensors.hpp"
#include "io/npz.hpp"
#include "model/gs_adapter.hpp"
#include "pipeline/export_gs_ply.hpp"
#include "model/utils/sh_rotation.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr double kTol = 1e-4;
const std::string kFixture = "tiny-giant-gs";

std::string dir() { return test::fixtures_dir() + "/" + kFixture; }

void check_case(const std::string& c, const std::string& fixture = kFixture) {
  const std::string fdir = test::fixtures_dir() + "/" + fixture;
  const std::string file = fdir + "/forward_" + c + ".safetensors";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  SafetensorsFile ref = SafetensorsFile::open(file);
  Model m = Model::load(fdir);
  ForwardOptions f;
  f.infer_gs = true;
  if (ref.contains("extrinsics")) f.extrinsics = ref.tensor("extrinsics");
  if (ref.contains("intrinsics")) f.intrinsics = ref.tensor("intrinsics");
  const Prediction p = m.forward(ref.tensor("image"), f);
  EXPECT_LT(test::rel_err(p.depth, ref.tensor("depth")), kTol) << "depth";
  EXPECT_LT(test::rel_err(p.extrinsics, ref.tensor("pred_extrinsics")), kTol) << "extrinsics";
  const std::pair<const char*, const Tensor*> fields[] = {{"gs_means", &p.gs_means},
                                                          {"gs_scales", &p.gs_scales},
                                                          {"gs_rotations", &p.gs_rotations},
                                                          {"gs_harmonics", &p.gs_harmonics},
                                                          {"gs_opacities", &p.gs_opacities}};
  for (const auto& [name, t] : fields) {
    ASSERT_TRUE(t->defined()) << name;
    const Tensor r = ref.tensor(name);
    ASSERT_EQ(t->shape(), r.shape()) << name;
    const double e = test::rel_err(*t, r);
    EXPECT_LT(e, kTol) << name;
    std::printf("  %s/%s %-13s rel err %.2e\n", fixture.c_str(), c.c_str(), name, e);
  }
  // named() carries them under the same names (what `da3 forward` writes)
  const auto named = p.named();
  for (const auto& [name, t] : fields) EXPECT_TRUE(named.count(name)) << name;
}

}  // namespace

TEST(Gaussians, OneView) { check_case("1view_56x70"); }
TEST(Gaussians, TwoViews) { check_case("2view_42x56"); }
TEST(Gaussians, PosedThreeViewsRescaled) { check_case("3view_posed_42x56"); }
// da3nested-giant-large: the any-view branch's Gaussians, from its depth and cameras before the
// metric scaling (scale_factor 0.17 here, so scaled ones would be far off).
TEST(Gaussians, NestedBeforeMetricScaling) { check_case("1view_42x56", "tiny-nested-gs"); }

TEST(Gaussians, ShRotationMatchesReference) {
  // rotate_sh (e3nn Wigner D, float32) on random rotations, the identity and near-gimbal ones.
  SafetensorsFile ref = SafetensorsFile::open(dir() + "/sh_rotation.safetensors");
  const Tensor out = model::rotate_sh(ref.tensor("coefficients"), ref.tensor("rotations"));
  const double e = test::rel_err(out, ref.tensor("rotated"));
  EXPECT_LT(e, kTol);
  // and it does rotate: the input itself is far from the reference's output
  EXPECT_GT(test::rel_err(ref.tensor("coefficients"), ref.tensor("rotated")), 0.1);
  std::printf("  rotate_sh rel err %.2e\n", e);
}

TEST(Gaussians, UmeyamaPoseScale) {
  SafetensorsFile ref = SafetensorsFile::open(dir() + "/forward_3view_posed_42x56.safetensors");
  const double s = model::umeyama_pose_scale(ref.tensor("extrinsics").select(0, 0), ref.tensor("pred_extrinsics").select(0, 0));
  const double want = ref.tensor("gs_adapter.pose_scale").data_as<float>()[0];
  EXPECT_NEAR(s, want, 1e-5 * want);
  // One camera: no spread, evo's alignment raises ("degenerate covariance rank") and the
  // reference falls back to 1.
  const Tensor one = ref.tensor("extrinsics").select(0, 0).slice(0, 0, 1).contiguous();
  const Tensor one_pred = ref.tensor("pred_extrinsics").select(0, 0).slice(0, 0, 1).contiguous();
  EXPECT_EQ(model::umeyama_pose_scale(one, one_pred), 1.0);
  // Two cameras: rank 1 in exact arithmetic, but numpy's SVD leaves a rounding-level second
  // singular value above eps, so the reference does align; the scale is then the ratio of the
  // distances between the two centres.
  const Tensor two = ref.tensor("extrinsics").select(0, 0).slice(0, 0, 2).contiguous();
  const Tensor two_pred = ref.tensor("pred_extrinsics").select(0, 0).slice(0, 0, 2).contiguous();
  const auto gap = [](const Tensor& e) {  // |c0 - c1| with c = -Rᵀ t
    double c[2][3] = {};
    for (int v = 0; v < 2; ++v)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          c[v][i] -= double(e.data_as<float>()[v * e.size(1) * 4 + j * 4 + i]) * e.data_as<float>()[v * e.size(1) * 4 + j * 4 + 3];
    return std::sqrt(std::pow(c[0][0] - c[1][0], 2) + std::pow(c[0][1] - c[1][1], 2) + std::pow(c[0][2] - c[1][2], 2));
  };
  const double ratio = gap(two) / gap(two_pred);
  EXPECT_NEAR(model::umeyama_pose_scale(two, two_pred), ratio, 1e-6 * ratio);
}

TEST(Gaussians, RefusedWithoutGsHead) {
  Model m = Model::load(test::fixtures_dir() + "/tiny-giant-like");  // da3-giant code, no gs_head
  ForwardOptions f;
  f.infer_gs = true;
  try {
    m.forward(Tensor::zeros({1, 1, 3, 28, 28}), f);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no 3D Gaussian head"), std::string::npos) << msg;
    EXPECT_NE(msg.find("da3-giant, da3nested-giant-large"), std::string::npos) << msg;
  }
}

TEST(Gaussians, ConfigChecksHeadAgainstAdapter) {
  // da3-giant's preset carries both; a gs_head whose output_dim does not fit the adapter is refused.
  const ModelConfig g = preset_config("da3-giant");
  ASSERT_TRUE(g.net.gs_head && g.net.gs_adapter);
  EXPECT_EQ(g.net.gs_head->output_dim, g.net.gs_adapter->d_in() + 1);
  EXPECT_EQ(g.net.gs_adapter->d_in(), 37);
  const std::string arch = R"({"architecture": {"net": {"out_layers": [0, 1, 2, 3], "embed_dim": 8, "depth": 4, "num_heads": 1},
    "head": {"type": "DualDPT", "dim_in": 16, "features": 8, "out_channels": [8, 8, 8, 8]},
    "gs_head": {"dim_in": 16, "output_dim": 30, "features": 8, "out_channels": [8, 8, 8, 8]},
    "gs_adapter": {"sh_degree": 2, "pred_offset_depth": true}}})";
  try {
    parse_model_config(arch);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output_dim is 30; the gs_adapter needs 38"), std::string::npos) << e.what();
  }
}

namespace {

struct Ply {
  std::string header;
  std::vector<float> values;
};

Ply read_ply(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const size_t end = bytes.find("end_header\n");
  Ply p;
  if (end == std::string::npos) return p;
  p.header = bytes.substr(0, end + 11);
  p.values.resize((bytes.size() - p.header.size()) / sizeof(float));
  std::memcpy(p.values.data(), bytes.data() + p.header.size(), p.values.size() * sizeof(float));
  return p;
}

Prediction fixture_prediction(const std::string& c);

void check_gs_ply(const std::string& c) {
  // The reference's export_to_gs_ply of the stored Gaussians and depth against ours of the same.
  const Prediction p = fixture_prediction(c);
  test::TempDir tmp;
  pipeline::export_gs_ply(p, tmp.file("gs.ply"));
  const Ply ours = read_ply(tmp.file("gs.ply")), theirs = read_ply(dir() + "/gs_ply_" + c + ".ply");
  ASSERT_FALSE(theirs.header.empty());
  EXPECT_EQ(ours.header, theirs.header);  // same properties, same vertex count
  ASSERT_EQ(ours.values.size(), theirs.values.size());
  ASSERT_GT(theirs.values.size(), 0u);
  // per property, norm-wise (columns of 17 floats). A Gaussian whose depth + predicted offset
  // is negative has a negative scale, whose log is NaN in both files (about 1 % here): NaNs
  // must sit at the same places and are left out of the norms.
  for (int k = 0; k < 17; ++k) {
    double num = 0, den = 0;
    for (size_t i = k; i < ours.values.size(); i += 17) {
      ASSERT_EQ(std::isnan(ours.values[i]), std::isnan(theirs.values[i])) << "property " << k << " value " << i / 17;
      if (std::isnan(theirs.values[i])) continue;
      num += std::pow(double(ours.values[i]) - theirs.values[i], 2);
      den += std::pow(double(theirs.values[i]), 2);
    }
    EXPECT_LE(std::sqrt(num), 1e-4 * std::sqrt(den)) << "property " << k;
  }
}

Prediction fixture_prediction(const std::string& c) {
  SafetensorsFile ref = SafetensorsFile::open(dir() + "/forward_" + c + ".safetensors");
  Prediction p;
  p.depth = ref.tensor("depth");
  p.gs_means = ref.tensor("gs_means");
  p.gs_scales = ref.tensor("gs_scales");
  p.gs_rotations = ref.tensor("gs_rotations");
  p.gs_harmonics = ref.tensor("gs_harmonics");
  p.gs_opacities = ref.tensor("gs_opacities");
  return p;
}

}  // namespace

TEST(Gaussians, GsSplatDecodesToTheGsPly) {
  // No reference writes .splat: each record is decoded and matched, by position, to the row of
  // the reference's own gs_ply it must come from.
  test::TempDir tmp;
  pipeline::export_gs_splat(fixture_prediction("1view_56x70"), tmp.file("gs.splat"));
  const Ply ply = read_ply(dir() + "/gs_ply_1view_56x70.ply");
  std::map<std::array<float, 3>, const float*> by_pos;
  size_t finite = 0;
  for (size_t i = 0; i < ply.values.size(); i += 17) {
    const float* r = &ply.values[i];
    if (std::all_of(r, r + 17, [](float v) { return std::isfinite(v); })) ++finite, by_pos[{r[0], r[1], r[2]}] = r;
  }
  std::ifstream in(tmp.file("gs.splat"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), finite * 32);
  ASSERT_GT(finite, ply.values.size() / 17 / 2);
  double last = INFINITY;
  for (size_t k = 0; k < finite; ++k) {
    const char* o = &bytes[k * 32];
    float f[6];
    std::memcpy(f, o, sizeof f);
    const auto it = by_pos.find({f[0], f[1], f[2]});
    ASSERT_NE(it, by_pos.end()) << "record " << k;
    const float* r = it->second;
    const auto u8 = [&](int i) { return double(static_cast<uint8_t>(o[i])); };
    const double alpha = 1 / (1 + std::exp(-double(r[9])));
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(f[3 + i], std::exp(double(r[10 + i])), 1e-6 * std::exp(double(r[10 + i])));
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(u8(24 + c), std::clamp((0.5 + 0.28209479177387814 * r[6 + c]) * 255, 0.0, 255.0), 1.0);
    EXPECT_NEAR(u8(27), alpha * 255, 1.0);
    const double qn = std::sqrt(r[13] * r[13] + r[14] * r[14] + r[15] * r[15] + r[16] * r[16]);
    for (int c = 0; c < 4; ++c) EXPECT_NEAR((u8(28 + c) - 128) / 128, r[13 + c] / qn, 1.5 / 128);
    const double importance = std::exp(double(r[10]) + r[11] + r[12]) * alpha;
    EXPECT_LE(importance, last * (1 + 1e-6)) << "record " << k << ": not sorted by volume x opacity";
    last = importance;
  }
}

TEST(Gaussians, GsPlyMatchesReferenceOneView) { check_gs_ply("1view_56x70"); }
TEST(Gaussians, GsPlyMatchesReferencePosed) { check_gs_ply("3view_posed_42x56"); }

TEST(Gaussians, CliForwardWritesGaussians) {
  test::TempDir d;
  const std::string out = d.file("out.safetensors");
  const std::string input = dir() + "/forward_2view_42x56.safetensors";
  test::CliRun r = test::run_cli("forward --gaussians --model " + dir() + " --input " + input + " --output " + out);
  ASSERT_EQ(r.rc, 0) << r.output;
  SafetensorsFile got = SafetensorsFile::open(out), ref = SafetensorsFile::open(input);
  for (const char* name : {"gs_means", "gs_scales", "gs_rotations", "gs_harmonics", "gs_opacities"}) {
    ASSERT_TRUE(got.contains(name)) << name;
    EXPECT_LT(test::rel_err(got.tensor(name), ref.tensor(name)), kTol) << name;
  }
  // without the flag: no Gaussians
  r = test::run_cli("forward --model " + dir() + " --input " + input + " --output " + out);
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_FALSE(SafetensorsFile::open(out).contains("gs_means"));
  // a model without a GS head refuses, naming the presets that have one
  const std::string plain = test::fixtures_dir() + "/tiny-giant-like";
  r = test::run_cli("forward --gaussians --model " + plain + " --input " + plain + "/forward_1view_70x98.safetensors --output " + out);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.output.find("da3-giant, da3nested-giant-large"), std::string::npos) << r.output;
}

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

// `da3 infer --gaussians`: the CLI runs the GS head and writes what the library's own pipeline
// (preprocess -> forward with infer_gs -> postprocess -> export_gs_ply / export_gs_splat)
// writes for the same images, byte for byte; the exporters' parity with the reference is the
// tests above.
TEST(Gaussians, CliInferExportsGsPlyAndSplat) {
  const std::string img = test::fixtures_dir() + "/pipeline/images/";
  const std::vector<std::string> images = {img + "c_port_210x300.jpg", img + "k_texture_320x240.jpg"};
  test::TempDir t;
  test::CliRun r = test::run_cli("infer " + images[0] + " " + images[1] + " -m " + dir() +
                                 " --process-res 84 --gaussians -f npz,splat -q -o " + t.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(t.file("out/gs_ply"))) << "-f named splat: no gs_ply added";
  r = test::run_cli("infer " + images[0] + " " + images[1] + " -m " + dir() +
                    " --process-res 84 --gaussians -q -o " + t.file("out2"));
  ASSERT_EQ(r.rc, 0) << r.output;
  ASSERT_TRUE(std::filesystem::exists(t.file("out2/results.npz"))) << "the default -f npz stays";

  PreprocessOptions o;
  o.process_res = 84;
  const PreprocessedBatch batch = preprocess(images, o);
  ForwardOptions f;
  f.infer_gs = true;
  const Model model = Model::load(dir());
  const InferenceResult res = postprocess(model.forward(batch.image, f), batch);
  ASSERT_TRUE(res.gs_means.defined());
  Prediction p;
  p.depth = res.depth.unsqueeze(0);
  p.gs_means = res.gs_means;
  p.gs_scales = res.gs_scales;
  p.gs_rotations = res.gs_rotations;
  p.gs_harmonics = res.gs_harmonics;
  p.gs_opacities = res.gs_opacities;
  pipeline::export_gs_ply(p, t.file("lib.ply"));
  pipeline::export_gs_splat(p, t.file("lib.splat"));
  const std::string ply = file_bytes(t.file("out2/gs_ply/0000.ply")), splat = file_bytes(t.file("out/scene.splat"));
  ASSERT_GT(ply.size(), 300u);
  ASSERT_GT(splat.size(), 32u * 100);
  EXPECT_TRUE(ply == file_bytes(t.file("lib.ply"))) << "gs_ply differs from the library's";
  EXPECT_TRUE(splat == file_bytes(t.file("lib.splat"))) << "splat differs from the library's";
}

TEST(Gaussians, CliInferRefusalsAreClear) {
  const std::string image = test::fixtures_dir() + "/pipeline/images/c_port_210x300.jpg";
  test::TempDir t;
  // a format that needs the head on a model without one: the presets that have one are named
  test::CliRun r = test::run_cli("infer " + image + " -m " + test::fixtures_dir() + "/tiny-anyview -f splat -o " + t.file("b"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("no 3D Gaussian head"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("da3-giant, da3nested-giant-large"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(t.file("b/scene.splat")));
  // streaming has no Gaussian output
  r = test::run_cli("infer " + image + " " + image + " -m " + dir() + " --stream --gaussians -o " + t.file("c"));
  EXPECT_NE(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("--gaussians is not a stream output"), std::string::npos) << r.output;
}

// -f gs_video: an uncompressed AVI of the CPU renders at the processed size; one view: the
// 36-frame circle around its camera, which keeps the scene in sight, so no frame is blank.
// (Between two cameras of this random-weight model the path turns by ~173°: frames half way
// look away from the scene, as a real renderer's would.)
TEST(Gaussians, CliInferWritesAGsVideo) {
  const std::string img = test::fixtures_dir() + "/pipeline/images/";
  test::TempDir t;
  const test::CliRun r = test::run_cli("infer " + img + "k_texture_320x240.jpg -m " + dir() +
                                       " --process-res 84 -f gs_video,npz -q -o " + t.file("out"));
  ASSERT_EQ(r.rc, 0) << r.output;
  const std::string avi = file_bytes(t.file("out/gs_video/0000.avi"));
  const auto npz = io::read_npz(t.file("out/results.npz"));
  const int64_t h = npz.at("depth").size(1), w = npz.at("depth").size(2);
  const size_t row = size_t(w) * 3 + (4 - size_t(w) * 3 % 4) % 4;  // a DIB row is padded to 4 bytes
  const size_t bytes = row * size_t(h);
  // The frames: "00db" chunks in the movi list, before the index.
  const size_t movi = avi.find("movi"), idx = avi.find("idx1");
  ASSERT_NE(movi, std::string::npos);
  ASSERT_NE(idx, std::string::npos);
  size_t frames = 0;
  for (size_t at = avi.find("00db", movi); at != std::string::npos && at < idx; at = avi.find("00db", at + 8 + bytes)) {
    uint32_t n = 0;
    std::memcpy(&n, avi.data() + at + 4, 4);
    ASSERT_EQ(n, bytes);
    const auto lit = std::count_if(avi.begin() + at + 8, avi.begin() + at + 8 + n, [](char c) { return c != 0; });
    EXPECT_GT(size_t(lit), bytes / 2) << "frame " << frames << " is mostly black";
    ++frames;
  }
  EXPECT_EQ(frames, 36u);
}
