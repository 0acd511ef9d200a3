// The whole network with --device cuda against the reference's fixtures (the same cases and
// tolerances as test_model.cpp) and against the same model on the CPU. fp32 on the GPU: TF32 off
// and attention through sdpa (fp32); the default attention on the GPU (flash, bf16) within 1e-2.
// Skips without CUDA or a GPU; scripts/gpu-check.sh runs it on one.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "da3/cuda.hpp"
#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "test_util.hpp"

namespace da3 {
namespace {

#ifdef DA3_WITH_CUDA

struct Case {
  const char* fixture;
  const char* name;
};

class ModelCudaFixtures : public ::testing::TestWithParam<Case> {};

TEST_P(ModelCudaFixtures, MatchesReferenceAndCpu) {
  if (cuda_devices().empty()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  const Case c = GetParam();
  const std::string dir = test::fixtures_dir() + "/" + c.fixture;
  const std::string file = dir + "/forward_" + c.name + ".safetensors";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  SafetensorsFile ref = SafetensorsFile::open(file);
  ForwardOptions f;
  if (ref.contains("extrinsics")) f.extrinsics = ref.tensor("extrinsics");
  if (ref.contains("intrinsics")) f.intrinsics = ref.tensor("intrinsics");
  ModelOptions gpu_fp32;
  gpu_fp32.device = Device::CUDA;
  gpu_fp32.attention_backend = AttentionBackend::Sdpa;
  const Model cpu = Model::load(dir);
  const Model gpu = Model::load(dir, gpu_fp32);
  const Tensor image = ref.tensor("image");
  const Prediction pc = cpu.forward(image, f);
  const Prediction pg = gpu.forward(image, f);
  const auto named_c = pc.named(), named_g = pg.named();
  for (const auto& [k, t] : named_c) {
    ASSERT_TRUE(named_g.count(k)) << k;
    EXPECT_EQ(named_g.at(k).device(), Device::CPU) << k;
    EXPECT_LT(test::rel_err(named_g.at(k), t), 1e-4) << k << " vs the CPU";
  }
  EXPECT_LT(test::rel_err(pg.depth, ref.tensor("depth")), 1e-4) << "depth vs the reference";
  if (ref.contains("depth_conf")) EXPECT_LT(test::rel_err(pg.depth_conf, ref.tensor("depth_conf")), 1e-4);
  if (ref.contains("sky")) EXPECT_LT(test::rel_err(pg.sky, ref.tensor("sky")), 1e-4);
  if (ref.contains("pred_extrinsics")) EXPECT_LT(test::rel_err(pg.extrinsics, ref.tensor("pred_extrinsics")), 1e-4);
  if (ref.contains("pred_intrinsics")) EXPECT_LT(test::rel_err(pg.intrinsics, ref.tensor("pred_intrinsics")), 1e-4);
  // The GPU's default attention (flash in bf16 where the head dim allows it).
  ModelOptions gpu_auto;
  gpu_auto.device = Device::CUDA;
  const Prediction pa = Model::load(dir, gpu_auto).forward(image, f);
  EXPECT_LT(test::rel_err(pa.depth, ref.tensor("depth")), 1e-2) << "depth, flash bf16 attention";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelCudaFixtures,
                         ::testing::Values(Case{"tiny-anyview", "1view_112x84"}, Case{"tiny-anyview", "4view_56x70"},
                                           Case{"tiny-anyview", "3view_posed_70x56"},
                                           Case{"tiny-mono", "1view_70x70"}, Case{"tiny-mono", "1view_84x70"},
                                           Case{"tiny-giant-like", "1view_70x98"},
                                           Case{"tiny-giant-like", "3view_56x70"},
                                           Case{"tiny-giant-like", "2view_posed_56x70"},
                                           Case{"tiny-nested", "1view_56x70"}, Case{"tiny-nested", "2view_70x56"}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = std::string(i.param.fixture) + "_" + i.param.name;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(ModelCuda, BadDeviceIndexIsAClearError) {
  if (cuda_devices().empty()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  ModelOptions o;
  o.device = Device::CUDA;
  o.device_index = static_cast<int>(cuda_devices().size());
  try {
    Model::load(test::fixtures_dir() + "/tiny-mono", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such GPU"), std::string::npos) << e.what();
  }
}

#endif

// Without a usable GPU, asking for one is one clear error (runs everywhere: CI has no GPU).
TEST(ModelCuda, NoGpuIsAClearError) {
  if (!cuda_devices().empty()) GTEST_SKIP() << "this machine has a GPU";
  ModelOptions o;
  o.device = Device::CUDA;
  try {
    Model::load(test::fixtures_dir() + "/tiny-mono", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable GPU"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace da3

namespace da3 {
namespace {

// --device on the CLI: a wrong spelling and a GPU that is not there are one clear line each.
TEST(CliDevice, UnknownOrUnavailableDeviceIsAClearError) {
  const std::string model = test::fixtures_dir() + "/tiny-mono";
  const test::CliRun bad = test::run_cli("bench model -m " + model + " --size 28x28 --repeat 1 --device gpu");
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.output.find("is not cpu, cuda or cuda:N"), std::string::npos) << bad.output;
  if (!cuda_devices().empty()) GTEST_SKIP() << "this machine has a GPU";
  const test::CliRun none = test::run_cli("bench model -m " + model + " --size 28x28 --repeat 1 --device cuda:0");
  EXPECT_NE(none.rc, 0);
  EXPECT_NE(none.output.find("no usable GPU"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace da3
