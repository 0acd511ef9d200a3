// CUDA attention backends against the double-precision oracle. Every test skips, saying why,
// when this build has no CUDA or the machine has no GPU; scripts/gpu-check.sh runs them on one.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "da3/attention.hpp"
#include "da3/cuda.hpp"
#include "test_attention_oracle.hpp"

#ifdef DA3_WITH_CUDA
#include "attention/cuda_path.hpp"
#endif

namespace da3 {
namespace {

#ifdef DA3_WITH_CUDA

#define SKIP_WITHOUT_GPU()                                                                       \
  do {                                                                                           \
    if (cuda_devices().empty()) GTEST_SKIP() << "no CUDA device: " << cuda_status();             \
  } while (0)

struct GpuCase {
  int64_t B, nq, nk, H, D;
  AttentionLayout layout = AttentionLayout::BNHD;
  DType dtype = DType::F32;
};

// Runs `backend` on the GPU (inputs copied there, output poisoned first) and returns the
// norm-wise error against the oracle, plus the stats.
double gpu_error(const GpuCase& c, AttentionBackend backend, uint32_t seed, AttentionStats* st,
                 const Tensor& mask_cpu = {}, AttentionPrecision prec = AttentionPrecision::Auto) {
  const Tensor q = test::random_tensor(test::attn_shape(c.layout, c.B, c.nq, c.H, c.D), seed).to(c.dtype);
  const Tensor k = test::random_tensor(test::attn_shape(c.layout, c.B, c.nk, c.H, c.D), seed + 1).to(c.dtype);
  const Tensor v = test::random_tensor(test::attn_shape(c.layout, c.B, c.nk, c.H, c.D), seed + 2).to(c.dtype);
  const Tensor qg = attn::cuda_copy(q, Device::CUDA), kg = attn::cuda_copy(k, Device::CUDA),
               vg = attn::cuda_copy(v, Device::CUDA);
  Tensor out = attn::cuda_copy(test::nan_like(q.shape(), c.dtype), Device::CUDA);
  AttentionOptions opts;
  opts.layout = c.layout;
  opts.backend = backend;
  opts.precision = prec;
  opts.stats = st;
  if (mask_cpu.defined()) opts.mask = attn::cuda_copy(mask_cpu, Device::CUDA);
  attention_into(qg, kg, vg, out, opts);
  const Tensor host = attn::cuda_copy(out, Device::CPU);
  const auto ref = test::attention_oracle(test::to_bhnd(q, c.layout), test::to_bhnd(k, c.layout),
                                          test::to_bhnd(v, c.layout), c.B, c.H, c.nq, c.nk, c.D,
                                          1.0 / std::sqrt(double(c.D)), mask_cpu);
  return test::rel_error(test::to_bhnd(host, c.layout), ref);
}

TEST(AttentionCuda, FlashMatchesOracleInBf16Tolerance) {
  SKIP_WITHOUT_GPU();
  if (!flash_attn_available(Device::CUDA)) GTEST_SKIP() << "no CUDA flash kernel for this GPU";
  uint32_t seed = 1;
  for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND})
    for (int64_t n : {1, 2, 63, 64, 65, 1297, 2053})
      for (int64_t d : {32, 64, 128}) {
        if (n > 1000 && d != 64) continue;
        const GpuCase c{2, n, n, 3, d, layout};
        AttentionStats st;
        EXPECT_LT(gpu_error(c, AttentionBackend::FlashAttn, seed += 3, &st), 1e-2)
            << "N=" << n << " D=" << d << " " << st.kernel;
        EXPECT_EQ(st.backend, AttentionBackend::FlashAttn);
      }
  // f16 on request, bf16 inputs, cross attention.
  AttentionStats st;
  EXPECT_LT(gpu_error({1, 100, 300, 2, 64}, AttentionBackend::FlashAttn, 50, &st, {}, AttentionPrecision::F16), 1e-2);
  EXPECT_EQ(st.precision, AttentionPrecision::F16);
  EXPECT_LT(gpu_error({1, 130, 130, 2, 64, AttentionLayout::BNHD, DType::BF16}, AttentionBackend::FlashAttn, 60, &st), 1e-2);
}

// Issue 16's stage 1 at DA3's own shapes (head dim 64): a 16-view global layer's 20,753 keys
// (odd, past every tile), a 4-view global layer's 5,189 tokens, 8 views' local layers as batch 8
// of 1,297, ViT-G's 24 heads; both layouts, bf16 and f16. The double-precision oracle runs on the
// host, so the long cases keep few query rows or heads (the key loop is what they test).
TEST(AttentionCuda, FlashMatchesOracleAtDa3Shapes) {
  SKIP_WITHOUT_GPU();
  if (!flash_attn_available(Device::CUDA)) GTEST_SKIP() << "no CUDA flash kernel for this GPU";
  const GpuCase cases[] = {
      {1, 64, 20753, 16, 64, AttentionLayout::BNHD},  // 16-view global layer's keys, ViT-L heads
      {1, 5189, 5189, 2, 64, AttentionLayout::BHND},  // 4-view global layer
      {8, 1297, 1297, 2, 64, AttentionLayout::BNHD},  // 8 views' local layers, batched
      {1, 700, 700, 24, 64, AttentionLayout::BNHD},   // ViT-G heads
      {3, 33, 4099, 1, 64, AttentionLayout::BHND},    // one head, odd everything
  };
  uint32_t seed = 900;
  for (const GpuCase& c : cases)
    for (AttentionPrecision prec : {AttentionPrecision::BF16, AttentionPrecision::F16}) {
      AttentionStats st;
      EXPECT_LT(gpu_error(c, AttentionBackend::FlashAttn, seed += 3, &st, {}, prec), 1e-2)
          << "B=" << c.B << " Nq=" << c.nq << " Nk=" << c.nk << " H=" << c.H << " " << attention_precision_name(prec)
          << " " << st.kernel;
      EXPECT_EQ(st.backend, AttentionBackend::FlashAttn);
      EXPECT_EQ(st.precision, prec);
    }
}

TEST(AttentionCuda, SdpaAndManualMatchOracleInFp32) {
  SKIP_WITHOUT_GPU();
  uint32_t seed = 100;
  for (AttentionBackend be : {AttentionBackend::Sdpa, AttentionBackend::Manual})
    for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND})
      for (int64_t n : {1, 63, 65, 1297}) {
        const GpuCase c{1, n, n, 2, 64, layout};
        AttentionStats st;
        EXPECT_LT(gpu_error(c, be, seed += 3, &st), 1e-5) << attention_backend_name(be) << " N=" << n;
        EXPECT_EQ(st.backend, be);
      }
}

TEST(AttentionCuda, MaskedSdpaAndManualAndFlashFallback) {
  SKIP_WITHOUT_GPU();
  Tensor mask = test::random_tensor({1, 70, 90}, 7);
  AttentionStats st;
  for (AttentionBackend be : {AttentionBackend::Sdpa, AttentionBackend::Manual, AttentionBackend::FlashAttn}) {
    EXPECT_LT(gpu_error({2, 70, 90, 2, 64}, be, 200, &st, mask), 1e-5) << attention_backend_name(be);
    EXPECT_NE(st.backend, AttentionBackend::FlashAttn);  // a mask never runs flash
  }
}

TEST(AttentionCuda, Bf16InputsThroughSdpa) {
  SKIP_WITHOUT_GPU();
  AttentionStats st;
  EXPECT_LT(gpu_error({1, 65, 65, 2, 64, AttentionLayout::BNHD, DType::BF16}, AttentionBackend::Sdpa, 300, &st), 1e-2);
}

// ---- The Hopper kernel (attention_flash_sm90.cu), forced with set_cuda_flash_kernel ----------
// Issue 16's stage 1 for the sm90 kernel: every compiled tile configuration against the double
// oracle at 1e-2, bf16 and f16 (operands stored in that type, so TMA reads them in place), both
// layouts, odd sizes, DA3's shapes. st.kernel is checked too: a silent fallback to fa2 fails.

#define SKIP_WITHOUT_HOPPER()                                                                           \
  do {                                                                                                  \
    SKIP_WITHOUT_GPU();                                                                                 \
    const CudaDevice& d0 = cuda_devices().front();                                                      \
    if (d0.cc_major != 9)                                                                               \
      GTEST_SKIP() << "the sm90 kernel needs a Hopper GPU (cc 9.x); device 0 is cc " << d0.cc_major << "." \
                   << d0.cc_minor;                                                                      \
  } while (0)

// Sets the process-wide CUDA flash kernel for one scope.
struct FlashKernelScope {
  explicit FlashKernelScope(const std::string& spec) { attn::set_cuda_flash_kernel(spec); }
  ~FlashKernelScope() { attn::set_cuda_flash_kernel(""); }
  FlashKernelScope(const FlashKernelScope&) = delete;
  FlashKernelScope& operator=(const FlashKernelScope&) = delete;
};

std::vector<std::string> sm90_specs() {
  std::vector<std::string> out;
  for (const char* t : {"128x128x2", "128x128x3", "128x176x2", "192x128x2"}) out.push_back(std::string("sm90:") + t);
  return out;
}

struct Sm90Case {
  int64_t B, nq, nk, H;
  AttentionLayout layout = AttentionLayout::BNHD;
};

// One oracle per case (f32 inputs), then every (precision, kernel spec): operands converted on
// the host to the compute type (what TMA reads), plus one run from f32 operands (the converted
// path of attention_cuda.cpp) with the first spec.
void check_sm90_case(const Sm90Case& c, const std::vector<std::string>& specs, uint32_t seed) {
  const int64_t D = 64;
  const Tensor q = test::random_tensor(test::attn_shape(c.layout, c.B, c.nq, c.H, D), seed);
  const Tensor k = test::random_tensor(test::attn_shape(c.layout, c.B, c.nk, c.H, D), seed + 1);
  const Tensor v = test::random_tensor(test::attn_shape(c.layout, c.B, c.nk, c.H, D), seed + 2);
  const auto ref = test::attention_oracle(test::to_bhnd(q, c.layout), test::to_bhnd(k, c.layout),
                                          test::to_bhnd(v, c.layout), c.B, c.H, c.nq, c.nk, D, 1.0 / std::sqrt(double(D)));
  auto run = [&](DType in, AttentionPrecision prec, const std::string& spec) {
    const Tensor qg = attn::cuda_copy(q.to(in), Device::CUDA), kg = attn::cuda_copy(k.to(in), Device::CUDA),
                 vg = attn::cuda_copy(v.to(in), Device::CUDA);
    const DType out_dt = in == DType::F32 ? DType::F32 : in;
    Tensor out = attn::cuda_copy(test::nan_like(q.shape(), out_dt), Device::CUDA);
    AttentionStats st;
    AttentionOptions opts;
    opts.layout = c.layout;
    opts.backend = AttentionBackend::FlashAttn;
    opts.precision = prec;
    opts.stats = &st;
    {
      FlashKernelScope scope(spec);
      attention_into(qg, kg, vg, out, opts);
    }
    const double err = test::rel_error(test::to_bhnd(attn::cuda_copy(out, Device::CPU), c.layout), ref);
    const std::string what = "B=" + std::to_string(c.B) + " Nq=" + std::to_string(c.nq) + " Nk=" + std::to_string(c.nk) +
                             " H=" + std::to_string(c.H) + (c.layout == AttentionLayout::BNHD ? " BNHD " : " BHND ") +
                             dtype_name(in) + " operands, " + attention_precision_name(prec) + ", " + spec;
    EXPECT_LT(err, 1e-2) << what << " -> " << st.kernel;
    EXPECT_NE(st.kernel.find("sm90a-" + spec.substr(5)), std::string::npos) << what << ": ran " << st.kernel;
  };
  for (const std::string& spec : specs) {
    run(DType::BF16, AttentionPrecision::BF16, spec);
    run(DType::F16, AttentionPrecision::F16, spec);
  }
  run(DType::F32, AttentionPrecision::BF16, specs.front());
}

// The first thing a GPU session runs (gpu-check.sh's sm90 stage, with a short timeout): one tiny
// call per tile configuration, so that a hang (an mbarrier never completing) or a fault shows up
// in seconds, before the long tests.
TEST(AttentionCuda, FlashSm90Smoke) {
  SKIP_WITHOUT_HOPPER();
  check_sm90_case({1, 65, 65, 1}, sm90_specs(), 1000);
}

TEST(AttentionCuda, FlashSm90MatchesOracleOnOddSizes) {
  SKIP_WITHOUT_HOPPER();
  uint32_t seed = 2000;
  for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND})
    for (int64_t n : {1, 2, 63, 64, 65, 127, 129, 176, 177, 200, 1297})
      check_sm90_case({2, n, n, 3, layout}, sm90_specs(), seed += 3);
  // Cross attention: more keys than queries and the other way round.
  check_sm90_case({1, 100, 300, 2}, sm90_specs(), 2100);
  check_sm90_case({2, 333, 65, 1, AttentionLayout::BHND}, sm90_specs(), 2200);
}

// The stage-1 shapes of issue 16 (as FlashMatchesOracleAtDa3Shapes for fa2).
TEST(AttentionCuda, FlashSm90MatchesOracleAtDa3Shapes) {
  SKIP_WITHOUT_HOPPER();
  const Sm90Case cases[] = {
      {1, 64, 20753, 16, AttentionLayout::BNHD},  // 16-view global layer's keys, ViT-L heads
      {1, 5189, 5189, 2, AttentionLayout::BHND},  // 4-view global layer
      {8, 1297, 1297, 2, AttentionLayout::BNHD},  // 8 views' local layers, batched
      {1, 700, 700, 24, AttentionLayout::BNHD},   // ViT-G heads
      {3, 33, 4099, 1, AttentionLayout::BHND},    // one head, odd everything
  };
  uint32_t seed = 3000;
  for (const Sm90Case& c : cases) check_sm90_case(c, sm90_specs(), seed += 3);
}

// q, k, v as views into one fused (B, N, 3, H, D) qkv buffer, as the model passes them: strided,
// not contiguous, read in place by TMA (no conversion: the kernel name has no "converted").
TEST(AttentionCuda, FlashSm90ReadsQkvViewsInPlace) {
  SKIP_WITHOUT_HOPPER();
  const int64_t B = 2, N = 1297, H = 6, D = 64;
  const Tensor qkv = test::random_tensor({B, N, 3, H, D}, 77).to(DType::BF16);
  const Tensor g = attn::cuda_copy(qkv, Device::CUDA);
  const Tensor q = g.select(2, 0), k = g.select(2, 1), v = g.select(2, 2);
  Tensor out = attn::cuda_copy(test::nan_like({B, N, H, D}, DType::BF16), Device::CUDA);
  AttentionStats st;
  AttentionOptions opts;
  opts.backend = AttentionBackend::FlashAttn;
  opts.precision = AttentionPrecision::BF16;
  opts.stats = &st;
  {
    FlashKernelScope scope("sm90");
    attention_into(q, k, v, out, opts);
  }
  EXPECT_NE(st.kernel.find("sm90a"), std::string::npos) << st.kernel;
  EXPECT_EQ(st.kernel.find("converted"), std::string::npos) << st.kernel;
  const auto hq = qkv.select(2, 0), hk = qkv.select(2, 1), hv = qkv.select(2, 2);
  const auto ref = test::attention_oracle(test::to_bhnd(hq, AttentionLayout::BNHD), test::to_bhnd(hk, AttentionLayout::BNHD),
                                          test::to_bhnd(hv, AttentionLayout::BNHD), B, H, N, N, D, 1.0 / std::sqrt(double(D)));
  EXPECT_LT(test::rel_error(test::to_bhnd(attn::cuda_copy(out, Device::CPU), AttentionLayout::BNHD), ref), 1e-2);
}

// Forcing sm90 where it cannot run (head dim 128 here; any GPU) falls back to fa2, still right.
TEST(AttentionCuda, FlashSm90FallsBackToFa2) {
  SKIP_WITHOUT_GPU();
  if (!flash_attn_available(Device::CUDA)) GTEST_SKIP() << "no CUDA flash kernel for this GPU";
  FlashKernelScope scope("sm90");
  AttentionStats st;
  EXPECT_LT(gpu_error({1, 100, 100, 2, 128}, AttentionBackend::FlashAttn, 4000, &st), 1e-2);
  EXPECT_EQ(st.kernel.find("sm90a"), std::string::npos) << st.kernel;
  if (cuda_devices().front().cc_major != 9) {
    EXPECT_LT(gpu_error({1, 100, 100, 2, 64}, AttentionBackend::FlashAttn, 4010, &st), 1e-2);
    EXPECT_EQ(st.kernel.find("sm90a"), std::string::npos) << st.kernel;
  }
}

#else

TEST(AttentionCuda, SkippedWithoutCudaBuild) { GTEST_SKIP() << "this build has no CUDA (nvcc not found)"; }

#endif

}  // namespace
}  // namespace da3
