// How --precision bf16 runs on this CPU (da3/cpu.hpp: cpu_bf16_support): the hardware decides,
// DA3_BF16_COMPUTE can force either bf16 way where bf16 arithmetic exists, never invent it.
#include <gtest/gtest.h>

#include "core/bf16_dot_probe.hpp"
#include "da3/cpu.hpp"
#include "test_util.hpp"

using namespace da3;

TEST(CpuBf16, ModeFollowsTheHardware) {
  test::ScopedEnv e("DA3_BF16_COMPUTE", nullptr);
  const CpuFeatures& f = cpu_features();
  const Bf16Support s = cpu_bf16_support();
  std::printf("[   INFO   ] %s: %s (%s)\n", f.brand.c_str(), bf16_mode_name(s.mode), s.why.c_str());
  EXPECT_FALSE(s.why.empty());
  if (!f.bf16_arithmetic()) {
    EXPECT_EQ(s.mode, Bf16Mode::Unsupported);
    EXPECT_EQ(cpu_fast_precisions(), "fp32");
  } else if (f.amx_usable) {
    EXPECT_EQ(s.mode, Bf16Mode::Compute);
  } else {
    // Measured: the mode is what the measured rate says (the probe ran, its ratio is plausible).
    EXPECT_GT(s.dot_rate_vs_fp32, 0.1);
    EXPECT_LT(s.dot_rate_vs_fp32, 8.0);
    EXPECT_EQ(s.mode, s.dot_rate_vs_fp32 >= 1.25 ? Bf16Mode::Compute : Bf16Mode::WeightsOnly);
  }
  EXPECT_EQ(cpu_fast_precisions().find("bf16 (") != std::string::npos, s.mode == Bf16Mode::Compute)
      << cpu_fast_precisions();
}

TEST(CpuBf16, ForcedModesOnlyWhereBf16ArithmeticExists) {
  const bool hw = cpu_features().bf16_arithmetic();
  for (const char* v : {"1", "0", " 1 "}) {
    test::ScopedEnv e("DA3_BF16_COMPUTE", v);
    const Bf16Support s = cpu_bf16_support();
    if (!hw) {
      EXPECT_EQ(s.mode, Bf16Mode::Unsupported) << v;
      continue;
    }
    EXPECT_EQ(s.mode, std::string(v).find('1') != std::string::npos ? Bf16Mode::Compute : Bf16Mode::WeightsOnly) << v;
    EXPECT_NE(s.why.find("DA3_BF16_COMPUTE"), std::string::npos) << s.why;
  }
  Bf16Support automatic;
  {
    test::ScopedEnv e("DA3_BF16_COMPUTE", "auto");
    automatic = cpu_bf16_support();
  }
  for (const char* bad : {"yes", "2", "fast"}) {
    test::ScopedEnv e("DA3_BF16_COMPUTE", bad);  // warned about, then auto
    EXPECT_EQ(cpu_bf16_support().mode, automatic.mode) << bad;
  }
}

// The probe itself: FMA chains at a plausible rate, vdpbf16ps within a sane factor of them.
TEST(CpuBf16, ProbeMeasuresBothRates) {
  if (!cpu_features().avx512_bf16) GTEST_SKIP() << "no AVX512_BF16: the probe cannot run here";
  const detail::Bf16DotProbe p = detail::probe_bf16_dot_rate(20'000, 3);
  std::printf("[   INFO   ] one thread: fp32 FMA %.1f GFLOP/s, vdpbf16ps %.1f GFLOP/s\n", p.fma_gflops, p.bf16_gflops);
  EXPECT_GT(p.fma_gflops, 1.0);
  EXPECT_GT(p.bf16_gflops, 1.0);
  EXPECT_LT(p.fma_gflops, 1000.0);
  EXPECT_LT(p.bf16_gflops, 2000.0);
}
