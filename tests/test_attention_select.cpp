// Backend selection: each rule of the brief (auto order, env override and its invalid values,
// per-model / per-call priority, mask fallback, unavailable flash) as its own test, first on the
// pure selection function, then through the process environment, the log and `da3 info`.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "attention/select.hpp"
#include "da3/attention.hpp"
#include "da3/cpu.hpp"
#include "da3/log.hpp"

namespace da3 {
namespace {

using attn::Fallback;
using attn::select_backend;
using attn::SelectionInputs;
using B = AttentionBackend;

TEST(AttentionSelect, AutoPrefersFlashWhereAvailableElseSdpa) {
  SelectionInputs in;
  in.flash_available = true;
  EXPECT_EQ(select_backend(in).backend, B::FlashAttn);
  in.flash_available = false;
  const auto s = select_backend(in);
  EXPECT_EQ(s.backend, B::Sdpa);
  EXPECT_EQ(s.fallback, Fallback::None);  // not asked for flash: nothing to report
}

TEST(AttentionSelect, EnvValuesAreCaseInsensitive) {
  SelectionInputs in;
  for (const char* v : {"sdpa", "SDPA", " Sdpa "}) {
    in.env = v;
    EXPECT_EQ(select_backend(in).backend, B::Sdpa) << v;
    EXPECT_FALSE(select_backend(in).env_invalid) << v;
  }
  for (const char* v : {"manual", "MANUAL"}) {
    in.env = v;
    EXPECT_EQ(select_backend(in).backend, B::Manual) << v;
  }
  in.flash_available = true;
  for (const char* v : {"flash_attn", "Flash_Attn", "auto", "AUTO", ""}) {
    in.env = v;
    EXPECT_EQ(select_backend(in).backend, B::FlashAttn) << v;
    EXPECT_FALSE(select_backend(in).env_invalid) << v;
  }
}

TEST(AttentionSelect, InvalidEnvValueKeepsAutomaticChoiceAndIsFlagged) {
  SelectionInputs in;
  in.flash_available = true;
  for (const char* v : {"flash", "xformers", "sdpa2", "1"}) {
    in.env = v;
    const auto s = select_backend(in);
    EXPECT_TRUE(s.env_invalid) << v;
    EXPECT_EQ(s.backend, B::FlashAttn) << v;
  }
  const std::string msg = attn::env_invalid_message("xformers");
  for (const char* name : {"xformers", "flash_attn", "sdpa", "manual", "auto"})
    EXPECT_NE(msg.find(name), std::string::npos) << "warning should name " << name << ": " << msg;
}

TEST(AttentionSelect, CallBeatsModelBeatsEnv) {
  SelectionInputs in;
  in.env = "manual";
  EXPECT_EQ(select_backend(in).backend, B::Manual);
  EXPECT_STREQ(select_backend(in).requested_by, "env");
  in.model = B::Sdpa;
  EXPECT_EQ(select_backend(in).backend, B::Sdpa);
  EXPECT_STREQ(select_backend(in).requested_by, "model");
  in.call = B::FlashAttn;
  EXPECT_EQ(select_backend(in).backend, B::FlashAttn);
  EXPECT_STREQ(select_backend(in).requested_by, "call");
}

TEST(AttentionSelect, MaskMovesFlashToSdpaOnly) {
  SelectionInputs in;
  in.has_mask = true;
  const auto s = select_backend(in);  // auto -> flash -> has a mask -> sdpa
  EXPECT_EQ(s.backend, B::Sdpa);
  EXPECT_EQ(s.fallback, Fallback::MaskToSdpa);
  in.env = "manual";
  EXPECT_EQ(select_backend(in).backend, B::Manual);  // manual takes masks
  EXPECT_EQ(select_backend(in).fallback, Fallback::None);
  in.env = "flash_attn";
  EXPECT_EQ(select_backend(in).backend, B::Sdpa);
  EXPECT_NE(attn::fallback_message(select_backend(in), in).find("mask"), std::string::npos);
}

TEST(AttentionSelect, UnavailableFlashFallsBackToSdpa) {
  SelectionInputs in;
  in.flash_available = false;
  in.flash_unavailable_reason = "no GPU";
  in.call = B::FlashAttn;
  const auto s = select_backend(in);
  EXPECT_EQ(s.backend, B::Sdpa);
  EXPECT_EQ(s.fallback, Fallback::FlashUnavailableToSdpa);
  EXPECT_NE(attn::fallback_message(s, in).find("no GPU"), std::string::npos);
}

TEST(AttentionSelect, ParseAndNames) {
  EXPECT_EQ(parse_attention_backend("flash_attn"), B::FlashAttn);
  EXPECT_EQ(parse_attention_backend("nope"), std::nullopt);
  for (B b : {B::Auto, B::FlashAttn, B::Sdpa, B::Manual}) EXPECT_EQ(parse_attention_backend(attention_backend_name(b)), b);
}

// ---- Through the real environment, log and CLI ------------------------------------------------

// Sets DA3_ATTENTION_BACKEND for one scope.
struct EnvGuard {
  explicit EnvGuard(const char* value) {
    if (value) setenv("DA3_ATTENTION_BACKEND", value, 1);
    else unsetenv("DA3_ATTENTION_BACKEND");
  }
  ~EnvGuard() { unsetenv("DA3_ATTENTION_BACKEND"); }
};

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(AttentionSelectEnv, FlashAvailableOnCpuFollowsCpuid) {
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(flash_attn_available(Device::CPU), (f.avx2 && f.fma) || f.avx512f);
  EnvGuard g(nullptr);
  EXPECT_EQ(attention_backend(Device::CPU), flash_attn_available(Device::CPU) ? B::FlashAttn : B::Sdpa);
}

TEST(AttentionSelectEnv, EnvOverridesAndCallStillWins) {
  EnvGuard g("Manual");
  EXPECT_EQ(attention_backend(Device::CPU), B::Manual);
  const Tensor q = Tensor::full({1, 4, 1, 8}, 0.5f);
  AttentionStats st;
  AttentionOptions opts;
  opts.stats = &st;
  attention(q, q, q, opts);
  EXPECT_EQ(st.backend, B::Manual);
  opts.model_backend = B::Sdpa;
  attention(q, q, q, opts);
  EXPECT_EQ(st.backend, B::Sdpa);
  opts.backend = B::Manual;
  attention(q, q, q, opts);
  EXPECT_EQ(st.backend, B::Manual);
}

TEST(AttentionSelectEnv, InvalidEnvWarnsOnceNamingValidValues) {
  set_log_level(LogLevel::Warn);
  EnvGuard g("warp_speed");
  testing::internal::CaptureStderr();
  const B first = attention_backend(Device::CPU);
  const B second = attention_backend(Device::CPU);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(first, second);
  EXPECT_EQ(first, flash_attn_available(Device::CPU) ? B::FlashAttn : B::Sdpa);
  EXPECT_EQ(count(err, "warp_speed"), 1u) << err;
  EXPECT_NE(err.find("flash_attn, sdpa, manual"), std::string::npos) << err;
}

TEST(AttentionSelectEnv, FlashRequestedWhereUnavailableRunsSdpaAndSaysSoOnce) {
  // CUDA is the device with no flash kernel on this machine (no GPU, or no CUDA in the build).
  if (flash_attn_available(Device::CUDA)) GTEST_SKIP() << "a CUDA flash kernel is available here";
  set_log_level(LogLevel::Warn);
  EnvGuard g("flash_attn");
  testing::internal::CaptureStderr();
  EXPECT_EQ(resolve_attention_backend(Device::CUDA), B::Sdpa);
  EXPECT_EQ(resolve_attention_backend(Device::CUDA), B::Sdpa);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "not available"), 1u) << err;
}

TEST(AttentionSelectEnv, MaskedCallWithFlashRequestedRunsSdpa) {
  EnvGuard g("FLASH_ATTN");
  const Tensor q = Tensor::full({1, 4, 1, 8}, 0.5f);
  AttentionOptions opts;
  opts.mask = Tensor::zeros({1, 4, 4});
  AttentionStats st;
  opts.stats = &st;
  attention(q, q, q, opts);
  EXPECT_EQ(st.backend, B::Sdpa);
  opts.mask = Tensor();
  attention(q, q, q, opts);
  EXPECT_EQ(st.backend, flash_attn_available(Device::CPU) ? B::FlashAttn : B::Sdpa);
}

std::string run_cli(const std::string& env, const std::string& args) {
  // DA3_TEST_CLI: where the CLI is when the tests run away from the build tree (the GPU bundle).
  const char* cli = std::getenv("DA3_TEST_CLI");
  const std::string cmd = env + " " + (cli ? cli : DA3_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

TEST(AttentionSelectCli, InfoPrintsAvailabilityAndSelectedBackend) {
  const bool cpu_default = default_attention_device() == Device::CPU;
  const std::string avail = std::string("Flash Attention available: ") + (flash_attn_available() ? "True" : "False");
  const std::string out = run_cli("DA3_ATTENTION_BACKEND=", "info");
  EXPECT_NE(out.find(avail), std::string::npos) << out;
  EXPECT_NE(out.find(std::string("Selected backend: ") + attention_backend_name(attention_backend())), std::string::npos)
      << out;
  const std::string forced = run_cli("DA3_ATTENTION_BACKEND=SDPA", "info");
  EXPECT_NE(forced.find("Selected backend: sdpa"), std::string::npos) << forced;
  const std::string bad = run_cli("DA3_ATTENTION_BACKEND=bogus", "info");
  EXPECT_EQ(count(bad, "'bogus' is not a known attention backend"), 1u) << bad;
  if (cpu_default) EXPECT_NE(bad.find(std::string("Selected backend: ") + (flash_attn_available() ? "flash_attn" : "sdpa")), std::string::npos) << bad;
}

}  // namespace
}  // namespace da3
