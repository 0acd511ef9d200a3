// --precision bf16 on the CPU (issue 19) against the fp32 reference on every preset's tiny
// fixture. The issue asks for 1e-2 (norm-wise, relative); on these random-weight tiny networks
// PyTorch's own bf16 (autocast) misses that on some cases (mono depth 2.5e-2 and 5.7e-2, nested
// 3.5e-2 and 4.3e-2: tools/reference/bf16_reference_error.py, which writes
// fixtures/bf16_reference_error.json). So each output must be within max(1e-2, 3x PyTorch's
// bf16 error on that case): bf16 rounding noise is a random draw per network and per kernel, and
// ours / PyTorch's measured 0.5x to 2.0x across these cases on Zen 4 (docs/perf.md), an AMX
// machine's kernels round in another order. And it must really be bf16: an option that was silently ignored
// would match fp32 to ~1e-6 (checked too). On a CPU without bf16 arithmetic the same load must
// be refused, naming what the CPU lacks.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "da3/cpu.hpp"
#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "nn/linear.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr double kBf16Tol = 1e-2;   // issue 19: depth / conf / extrinsics vs the fp32 reference
constexpr double kNotF32 = 1e-6;    // fp32 runs match the reference to ~1e-6 and below


// max(1e-2, 3 x the reference's own bf16 error) for one output of one case.
double tolerance(const std::string& fixture, const std::string& c, const std::string& key) {
  static const nlohmann::json doc = [] {
    std::ifstream f(test::fixtures_dir() + "/bf16_reference_error.json");
    return nlohmann::json::parse(f);
  }();
  const auto& errs = doc.at("errors").at(fixture).at(c);
  return std::max(kBf16Tol, errs.contains(key) ? 3.0 * errs.at(key).get<double>() : 0.0);
}

// Both ways --precision bf16 runs (DA3_BF16_COMPUTE forces each one on any CPU with bf16
// arithmetic): bf16 products (AMX / vdpbf16ps), and bf16 weights with f32 products (the choice
// where vdpbf16ps is slower than fp32 FMAs).
void check_bf16_case_in(const std::string& fixture, const std::string& c, const char* mode) {
  test::ScopedEnv e("DA3_BF16_COMPUTE", mode);
  std::printf("  DA3_BF16_COMPUTE=%s (%s)\n", mode, bf16_mode_name(cpu_bf16_support().mode));
  const std::string dir = test::fixtures_dir() + "/" + fixture;
  SafetensorsFile ref = SafetensorsFile::open(dir + "/forward_" + c + ".safetensors");
  ModelOptions mo;
  mo.precision = Precision::BF16;
  Model m = Model::load(dir, mo);
  ForwardOptions f;
  if (ref.contains("extrinsics")) f.extrinsics = ref.tensor("extrinsics");
  if (ref.contains("intrinsics")) f.intrinsics = ref.tensor("intrinsics");
  const Prediction p = m.forward(ref.tensor("image"), f);
  const double depth_err = test::rel_err(p.depth, ref.tensor("depth"));
  EXPECT_LT(depth_err, tolerance(fixture, c, "depth")) << "depth";
  EXPECT_GT(depth_err, kNotF32) << "depth equals fp32: bf16 was not used";
  const std::pair<const char*, const Tensor*> outs[] = {
      {"depth_conf", &p.depth_conf}, {"sky", &p.sky}, {"pred_extrinsics", &p.extrinsics}, {"pred_intrinsics", &p.intrinsics}};
  for (const auto& [key, t] : outs)
    if (ref.contains(key)) {
      const double err = test::rel_err(*t, ref.tensor(key));
      EXPECT_LT(err, tolerance(fixture, c, key)) << key;
      std::printf("  %s: %.2e (tolerance %.2e)\n", key, err, tolerance(fixture, c, key));
    }
  std::printf("  depth: %.2e (tolerance %.2e)\n", depth_err, tolerance(fixture, c, "depth"));
}

void check_bf16_case(const std::string& fixture, const std::string& c) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  for (const char* mode : {"1", "0"}) {
    SCOPED_TRACE(std::string("DA3_BF16_COMPUTE=") + mode);
    check_bf16_case_in(fixture, c, mode);
  }
}

}  // namespace

TEST(PrecisionBf16, AnyviewOneView) { check_bf16_case("tiny-anyview", "1view_112x84"); }
TEST(PrecisionBf16, AnyviewFourViews) { check_bf16_case("tiny-anyview", "4view_56x70"); }
TEST(PrecisionBf16, AnyviewPosed) { check_bf16_case("tiny-anyview", "3view_posed_70x56"); }
TEST(PrecisionBf16, Mono) { check_bf16_case("tiny-mono", "1view_84x70"); }
TEST(PrecisionBf16, MonoSquare) { check_bf16_case("tiny-mono", "1view_70x70"); }
TEST(PrecisionBf16, GiantLikeOneView) { check_bf16_case("tiny-giant-like", "1view_70x98"); }
TEST(PrecisionBf16, GiantLikeThreeViews) { check_bf16_case("tiny-giant-like", "3view_56x70"); }
TEST(PrecisionBf16, Nested) { check_bf16_case("tiny-nested", "2view_70x56"); }
TEST(PrecisionBf16, NestedOneView) { check_bf16_case("tiny-nested", "1view_56x70"); }

// DA3_HEAD_BF16=1 (opt-in): on AMX the heads' convolutions run in bf16 too, which changes the
// result and stays within the same budget; without AMX the variable is ignored (same bits).
TEST(PrecisionBf16, HeadConvsInBf16OnlyWhenAskedAndOnAmx) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  const std::string fixture = "tiny-anyview", c = "1view_112x84";
  const std::string dir = test::fixtures_dir() + "/" + fixture;
  SafetensorsFile ref = SafetensorsFile::open(dir + "/forward_" + c + ".safetensors");
  ModelOptions mo;
  mo.precision = Precision::BF16;
  const auto run = [&](const char* env) {
    test::ScopedEnv e("DA3_HEAD_BF16", env);
    return Model::load(dir, mo).forward(ref.tensor("image")).depth;
  };
  const Tensor plain = run(nullptr), head16 = run("1");
  if (!cpu_features().amx_usable) {
    EXPECT_EQ(test::rel_err(head16, plain), 0.0) << "DA3_HEAD_BF16=1 must be ignored without AMX";
    return;
  }
  EXPECT_GT(test::rel_err(head16, plain), kNotF32) << "DA3_HEAD_BF16=1 changed nothing on an AMX CPU";
  const double err = test::rel_err(head16, ref.tensor("depth"));
  std::printf("  depth with bf16 head convolutions: %.2e (tolerance %.2e)\n", err, tolerance(fixture, c, "depth"));
  EXPECT_LT(err, tolerance(fixture, c, "depth"));
  EXPECT_EQ(test::rel_err(run("0"), plain), 0.0) << "DA3_HEAD_BF16=0 is the default";
}

TEST(PrecisionBf16, RefusedWithoutBf16Hardware) {
  if (cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has bf16 arithmetic: the refusal cannot happen here";
  ModelOptions mo;
  mo.precision = Precision::BF16;
  try {
    Model::load(test::fixtures_dir() + "/tiny-anyview", mo);
    FAIL() << "bf16 was accepted on a CPU without bf16 arithmetic";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("AVX512_BF16"), std::string::npos) << e.what();
  }
}

TEST(PrecisionBf16, RefusedOnCuda) {
  ModelOptions mo;
  mo.precision = Precision::BF16;
  mo.device = Device::CUDA;
  try {
    Model::load(test::fixtures_dir() + "/tiny-anyview", mo);
    FAIL() << "bf16 on cuda was accepted";
  } catch (const Error& e) {
    // Without a GPU the device check may speak first; either way it is refused with a reason.
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

TEST(PrecisionBf16, CliSaysWhatTheCpuRuns) {
  const test::CliRun r = test::run_cli("info");
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("Fast precisions on cpu: " + cpu_fast_precisions()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("AMX: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(std::string("--precision bf16 on cpu: ") + bf16_mode_name(cpu_bf16_support().mode)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Depth heads under --precision bf16: " + bf16_heads_description()), std::string::npos)
      << r.output;
}

TEST(LinearBf16, CloseToF32ButNotEqual) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  test::ScopedEnv e("DA3_BF16_COMPUTE", "1");  // bf16 products, whatever the CPU's measured rate
  const Tensor w = test::randn({96, 160}, 1), b = test::randn({96}, 2), x = test::randn({37, 160}, 3);
  const nn::Linear f32(w, b, "f32"), bf16(w, b, "bf16", Tensor(), DType::BF16);
  const Tensor ref = f32.forward(x, {nn::Activation::Gelu});
  const Tensor y = bf16.forward(x, {nn::Activation::Gelu});
  EXPECT_EQ(y.dtype(), DType::F32);
  const double err = test::rel_err(y, ref);
  EXPECT_LT(err, kBf16Tol);
  EXPECT_GT(err, kNotF32);
  // A bf16 result, fed back as a bf16 input, gives the same product as the f32 path within bf16 rounding.
  const Tensor yb = bf16.forward(x, {nn::Activation::Gelu, nullptr, nullptr, DType::BF16});
  EXPECT_EQ(yb.dtype(), DType::BF16);
  EXPECT_LT(test::rel_err(yb, ref), kBf16Tol);
  const nn::Linear back(test::randn({160, 96}, 4), Tensor(), "back", Tensor(), DType::BF16);
  EXPECT_LT(test::rel_err(back.forward(yb), back.forward(yb.to(DType::F32))), 1e-6);
}

// Where vdpbf16ps is slower than fp32 FMAs a bf16 layer holds bf16 weights and computes in f32:
// exactly an f32 layer whose weights were rounded to bf16 (same oneDNN kernel, same layout).
TEST(LinearBf16, WeightsOnlyIsAnF32LayerWithRoundedWeights) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  test::ScopedEnv e("DA3_BF16_COMPUTE", "0");
  const Tensor w = test::randn({1536, 384}, 11), b = test::randn({1536}, 12);
  const nn::Linear f32(w, b, "f32"), rounded(w.to(DType::BF16).to(DType::F32), b, "rounded"),
      bf16(w, b, "bf16", Tensor(), DType::BF16);
  EXPECT_EQ(bf16.compute_dtype(), DType::F32);
  EXPECT_EQ(bf16.storage_dtype(), DType::BF16);
  for (int64_t m : {1, 7, 973}) {
    const Tensor x = test::randn({m, 384}, 13 + static_cast<uint32_t>(m));
    const Tensor y = bf16.forward(x, {nn::Activation::Gelu});
    EXPECT_EQ(y.dtype(), DType::F32);
    EXPECT_EQ(test::rel_err(y, rounded.forward(x, {nn::Activation::Gelu})), 0.0) << m << " rows";
    const double err = test::rel_err(y, f32.forward(x, {nn::Activation::Gelu}));
    EXPECT_LT(err, kBf16Tol) << m << " rows";
    EXPECT_GT(err, kNotF32) << m << " rows: the weights were not rounded";
  }
  // Its inputs and outputs are f32 only (a bf16 activation would need bf16 products).
  EXPECT_THROW(bf16.forward(test::randn({3, 384}, 14).to(DType::BF16)), Error);
  // A folded, owned copy (narrowed at load) reads the same as a view of the weights.
  const Tensor g = test::randn({1536}, 15);
  const nn::Linear folded(w, b, "folded", g, DType::BF16);
  EXPECT_EQ(folded.storage_dtype(), DType::BF16);
  const Tensor x = test::randn({5, 384}, 16);
  EXPECT_LT(test::rel_err(folded.forward(x), nn::Linear(w, b, "f", g).forward(x)), kBf16Tol);
}

// A ViT-S MLP shape, whose bf16 weights oneDNN takes in its own blocked layout (packed once),
// at row counts from 1 to a 1-view token count: every one must read the packed weights right.
TEST(LinearBf16, PackedWeightsAtEveryRowCount) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  const Tensor w = test::randn({1536, 384}, 7), b = test::randn({1536}, 8);
  const nn::Linear f32(w, b, "f32");
  for (const char* mode : {"1", "0"}) {
    test::ScopedEnv e("DA3_BF16_COMPUTE", mode);
    const nn::Linear bf16(w, b, "bf16", Tensor(), DType::BF16);
    for (int64_t m : {1, 7, 64, 973}) {
      const Tensor x = test::randn({m, 384}, 9 + static_cast<uint32_t>(m));
      const double err = test::rel_err(bf16.forward(x), f32.forward(x));
      EXPECT_LT(err, kBf16Tol) << m << " rows, DA3_BF16_COMPUTE=" << mode;
      EXPECT_GT(err, kNotF32) << m << " rows, DA3_BF16_COMPUTE=" << mode;
    }
  }
}

TEST(LinearBf16, RefusesMisuse) {
  const Tensor w = test::randn({8, 16}, 5), x = test::randn({3, 16}, 6);
  const nn::Linear f32(w, Tensor(), "f32");
  EXPECT_THROW(f32.forward(x.to(DType::BF16)), Error);                                    // bf16 into an f32 layer
  EXPECT_THROW(f32.forward(x, {nn::Activation::None, nullptr, nullptr, DType::BF16}), Error);  // bf16 out of one
  EXPECT_THROW(nn::Linear(w, Tensor(), "f16", Tensor(), DType::F16), Error);
  const nn::Linear bf16(w, Tensor(), "bf16", Tensor(), DType::BF16);
  Tensor acc = Tensor::zeros({3, 8});
  EXPECT_THROW(bf16.forward(x, {nn::Activation::None, nullptr, &acc, DType::BF16}), Error);  // residual stays f32
}
