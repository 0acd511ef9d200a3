// CUDA attention backends against the double-precision oracle. Every test skips, saying why,
// when this build has no CUDA or the machine has no GPU; scripts/gpu-check.sh runs them on one.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

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

#else

TEST(AttentionCuda, SkippedWithoutCudaBuild) { GTEST_SKIP() << "this build has no CUDA (nvcc not found)"; }

#endif

}  // namespace
}  // namespace da3
