// Every attention backend against the double-precision oracle (test_attention_oracle.hpp), on
// fresh random inputs, with outputs poisoned (NaN) before each run so an unwritten element fails.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "da3/attention.hpp"
#include "da3/cpu.hpp"
#include "da3/threads.hpp"
#include "kernels/cpu/attention_flash.hpp"
#include "test_attention_oracle.hpp"
#include "test_util.hpp"

namespace da3 {
namespace {

using test::attn_shape;
using test::random_tensor;

constexpr double kF32Tol = 1e-5;
constexpr double kLowTol = 1e-2;

struct Case {
  int64_t B, nq, nk, H, D;
  AttentionLayout layout = AttentionLayout::BNHD;
  DType dtype = DType::F32;
};

std::string describe(const Case& c) {
  return "B=" + std::to_string(c.B) + " Nq=" + std::to_string(c.nq) + " Nk=" + std::to_string(c.nk) +
         " H=" + std::to_string(c.H) + " D=" + std::to_string(c.D) +
         (c.layout == AttentionLayout::BNHD ? " BNHD " : " BHND ") + dtype_name(c.dtype);
}

struct Inputs {
  Tensor q, k, v;
  std::vector<double> qd, kd, vd;  // the values the backends see (after dtype rounding), (B,H,N,D)
};

Inputs make_inputs(const Case& c, uint32_t seed) {
  Inputs in;
  in.q = random_tensor(attn_shape(c.layout, c.B, c.nq, c.H, c.D), seed).to(c.dtype);
  in.k = random_tensor(attn_shape(c.layout, c.B, c.nk, c.H, c.D), seed + 1).to(c.dtype);
  in.v = random_tensor(attn_shape(c.layout, c.B, c.nk, c.H, c.D), seed + 2).to(c.dtype);
  in.qd = test::to_bhnd(in.q, c.layout);
  in.kd = test::to_bhnd(in.k, c.layout);
  in.vd = test::to_bhnd(in.v, c.layout);
  return in;
}

// Runs one backend through the public entry point and returns its error against the oracle.
double error_of(const Case& c, AttentionBackend backend, uint32_t seed, const Tensor& mask = {},
                AttentionPrecision precision = AttentionPrecision::Auto, AttentionStats* stats_out = nullptr) {
  const Inputs in = make_inputs(c, seed);
  Tensor out = test::nan_like(in.q.shape(), c.dtype);
  AttentionOptions opts;
  opts.layout = c.layout;
  opts.backend = backend;
  opts.mask = mask;
  opts.precision = precision;
  AttentionStats stats;
  opts.stats = &stats;
  attention_into(in.q, in.k, in.v, out, opts);
  if (stats_out) *stats_out = stats;
  const auto ref = test::attention_oracle(in.qd, in.kd, in.vd, c.B, c.H, c.nq, c.nk, c.D, 1.0 / std::sqrt(double(c.D)), mask);
  return test::rel_error(test::to_bhnd(out, c.layout), ref);
}

const AttentionBackend kBackends[] = {AttentionBackend::FlashAttn, AttentionBackend::Sdpa, AttentionBackend::Manual};

TEST(Attention, EveryBackendMatchesOracleSmallShapes) {
  uint32_t seed = 1;
  for (AttentionBackend be : kBackends)
    for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND})
      for (int64_t n : {1, 2, 63, 64, 65})
        for (int64_t d : {32, 64, 128}) {
          const Case c{2, n, n, 3, d, layout};
          AttentionStats st;
          const double err = error_of(c, be, seed += 3, {}, AttentionPrecision::Auto, &st);
          EXPECT_LT(err, kF32Tol) << attention_backend_name(be) << " " << describe(c);
          if (be != AttentionBackend::FlashAttn || flash_attn_available(Device::CPU)) {
            EXPECT_EQ(st.backend, be) << describe(c);
          }
        }
}

TEST(Attention, CrossAttentionAndOddHeadDims) {
  uint32_t seed = 100;
  for (AttentionBackend be : kBackends)
    for (const Case& c : {Case{1, 65, 130, 2, 64}, Case{2, 1, 97, 1, 32}, Case{1, 130, 7, 2, 48, AttentionLayout::BHND},
                          Case{1, 33, 33, 2, 8}, Case{1, 40, 50, 1, 20}}) {
      EXPECT_LT(error_of(c, be, seed += 3), kF32Tol) << attention_backend_name(be) << " " << describe(c);
    }
}

TEST(Attention, EveryBackendMatchesOracleLargeShapes) {
  // One image at 504x504 (1297 tokens) and a 2000+ case; few heads to keep the oracle cheap.
  for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND}) {
    const Case c{1, 1297, 1297, 2, 64, layout};
    for (AttentionBackend be : {AttentionBackend::FlashAttn, AttentionBackend::Sdpa})
      EXPECT_LT(error_of(c, be, 7), kF32Tol) << attention_backend_name(be) << " " << describe(c);
  }
  EXPECT_LT(error_of({1, 1297, 1297, 1, 64}, AttentionBackend::Manual, 8), kF32Tol);
  const Case big{1, 2053, 2053, 1, 64};
  for (AttentionBackend be : {AttentionBackend::FlashAttn, AttentionBackend::Sdpa})
    EXPECT_LT(error_of(big, be, 9), kF32Tol) << attention_backend_name(be) << " " << describe(big);
  EXPECT_LT(error_of({1, 300, 2100, 1, 128}, AttentionBackend::FlashAttn, 10), kF32Tol);
}

// A random additive mask with some keys blocked (-inf), never a whole row.
Tensor random_mask(const Shape& shape, uint32_t seed) {
  Tensor m = random_tensor(shape, seed);
  float* p = m.data_as<float>();
  const int64_t nk = shape.back();
  for (int64_t i = 0; i < m.numel(); ++i)
    if ((i % nk) != 0 && (i * 2654435761u) % 7 == 0) p[i] = -std::numeric_limits<float>::infinity();
  return m;
}

TEST(Attention, MaskedSdpaAndManualMatchOracle) {
  uint32_t seed = 200;
  for (AttentionBackend be : {AttentionBackend::Sdpa, AttentionBackend::Manual})
    for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND})
      for (int64_t n : {1, 63, 65, 130}) {
        const Case c{2, n, n, 3, 64, layout};
        EXPECT_LT(error_of(c, be, seed += 3, random_mask({2, n, n}, seed)), kF32Tol)
            << attention_backend_name(be) << " (B, N, N) mask " << describe(c);
        EXPECT_LT(error_of(c, be, seed += 3, random_mask({1, n, n}, seed)), kF32Tol)
            << attention_backend_name(be) << " (1, N, N) mask " << describe(c);
        EXPECT_LT(error_of(c, be, seed += 3, random_mask({2, 3, n, n}, seed)), kF32Tol)
            << attention_backend_name(be) << " (B, H, N, N) mask " << describe(c);
      }
  // Bool mask, torch convention: true = attend.
  for (AttentionBackend be : {AttentionBackend::Sdpa, AttentionBackend::Manual}) {
    Tensor bm = Tensor::empty({1, 70, 90}, DType::Bool);
    uint8_t* p = bm.data_as<uint8_t>();
    for (int64_t i = 0; i < bm.numel(); ++i) p[i] = (i % 90) == 0 || (i * 40503u) % 3 != 0;
    EXPECT_LT(error_of({2, 70, 90, 2, 32}, be, 300, bm), kF32Tol) << attention_backend_name(be) << " bool mask";
  }
  // A large masked case through sdpa (the backend masked model calls use).
  EXPECT_LT(error_of({1, 1297, 1297, 1, 64}, AttentionBackend::Sdpa, 301, random_mask({1, 1297, 1297}, 302)), kF32Tol);
}

TEST(Attention, MaskGivenToFlashRunsSdpa) {
  AttentionStats st;
  const double err = error_of({1, 65, 65, 2, 64}, AttentionBackend::FlashAttn, 400, random_mask({1, 65, 65}, 401),
                              AttentionPrecision::Auto, &st);
  EXPECT_EQ(st.backend, AttentionBackend::Sdpa);
  EXPECT_LT(err, kF32Tol);
}

TEST(Attention, Bf16AndF16InputsMatchOracle) {
  uint32_t seed = 500;
  for (DType dt : {DType::BF16, DType::F16})
    for (AttentionBackend be : kBackends)
      for (const Case& c : {Case{1, 65, 65, 2, 64, AttentionLayout::BNHD, dt},
                            Case{1, 1297, 1297, 1, 64, AttentionLayout::BHND, dt}}) {
        if (be == AttentionBackend::Manual && c.nq > 1000) continue;
        EXPECT_LT(error_of(c, be, seed += 3), kLowTol) << attention_backend_name(be) << " " << describe(c);
      }
}

TEST(Attention, FlashLowPrecisionComputeIsCloseButNotExact) {
  // bf16 / f16 compute rounds q, k, v and P: within 1e-2 of the oracle, and measurably different
  // from fp32 (so a precision option that was silently ignored fails here).
  // bf16 products forced: on a CPU whose vdpbf16ps is slower than its FMAs they are not the
  // default (next test).
  test::ScopedEnv e("DA3_BF16_COMPUTE", "1");
  for (AttentionPrecision prec : {AttentionPrecision::BF16, AttentionPrecision::F16}) {
    AttentionStats st;
    const double err = error_of({1, 1297, 1297, 2, 64}, AttentionBackend::FlashAttn, 600, {}, prec, &st);
    EXPECT_LT(err, kLowTol) << attention_precision_name(prec);
    EXPECT_GT(err, 1e-5) << attention_precision_name(prec) << " looks like fp32";
    EXPECT_EQ(st.precision, prec);
  }
}

// Where bf16 products would be slower than fp32 (cpu_bf16_support(): WeightsOnly, forced here),
// a bf16 request runs the fp32 body, and says so.
TEST(Attention, FlashBf16RunsF32WhereBf16ProductsAreSlower) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic";
  test::ScopedEnv e("DA3_BF16_COMPUTE", "0");
  AttentionStats st;
  const double err = error_of({1, 300, 300, 2, 64}, AttentionBackend::FlashAttn, 601, {}, AttentionPrecision::BF16, &st);
  EXPECT_LT(err, kF32Tol);
  EXPECT_EQ(st.precision, AttentionPrecision::F32);
  EXPECT_NE(st.kernel.find("-f32"), std::string::npos) << st.kernel;
}

// Runs every flash variant this CPU supports directly, including the plain C++ one, with block
// shapes that put block edges everywhere (1-strip query blocks, 16-key blocks).
TEST(Attention, EveryCpuFlashVariantMatchesOracle) {
  using kernels::FlashCpuIsa;
  int ran = 0;
  for (FlashCpuIsa isa : {FlashCpuIsa::Scalar, FlashCpuIsa::Avx2, FlashCpuIsa::Avx512, FlashCpuIsa::Avx512Bf16, FlashCpuIsa::Amx}) {
    if (!kernels::flash_cpu_isa_supported(isa)) {
      std::printf("[   INFO   ] flash variant %s: not supported by this CPU, skipped\n", kernels::flash_cpu_isa_name(isa));
      continue;
    }
    ++ran;
    for (kernels::FlashCpuTiling tiling : {kernels::FlashCpuTiling{}, kernels::FlashCpuTiling{1, 16}, kernels::FlashCpuTiling{3, 40}})
      for (const Case& c : {Case{2, 1, 1, 2, 64}, Case{1, 65, 65, 3, 32}, Case{1, 130, 97, 2, 128, AttentionLayout::BHND},
                            Case{1, 1297, 1297, 1, 64}}) {
        if (c.nq > 1000 && tiling.strips != 0) continue;
        const Inputs in = make_inputs(c, 700 + ran);
        Tensor out = test::nan_like(in.q.shape(), DType::F32);
        const bool bnhd = c.layout == AttentionLayout::BNHD;
        auto op = [&](const Tensor& t) {
          return kernels::AttnOperand{t.data(), t.dtype(), t.stride(0), bnhd ? t.stride(1) : t.stride(2),
                                      bnhd ? t.stride(2) : t.stride(1)};
        };
        kernels::AttentionProblem p;
        p.batch = c.B; p.heads = c.H; p.nq = c.nq; p.nk = c.nk; p.head_dim = c.D;
        p.q = op(in.q); p.k = op(in.k); p.v = op(in.v);
        const kernels::AttnOperand o = op(out);
        p.out = {out.data(), DType::F32, o.sb, o.sn, o.sh};
        p.scale = 1.f / std::sqrt(float(c.D));
        p.threads = num_threads();
        kernels::attention_flash_cpu(p, isa, tiling);
        const auto ref = test::attention_oracle(in.qd, in.kd, in.vd, c.B, c.H, c.nq, c.nk, c.D, p.scale);
        EXPECT_LT(test::rel_error(test::to_bhnd(out, c.layout), ref), kF32Tol)
            << kernels::flash_cpu_isa_name(isa) << " tiling " << tiling.strips << "/" << tiling.block_k << " "
            << describe(c);
      }
  }
  EXPECT_GE(ran, 1);
}

// bf16 compute through every variant: within the low-precision tolerance of the oracle, and the
// AVX-512-BF16 kernel (vdpbf16ps on paired operands) within 2e-3 of the fp32 body's bf16
// emulation, which rounds the same operands (q, k, v, P) and differs in summation order only:
// a packing or pairing mistake shows up far above that. Odd key counts (a key paired with
// padding), odd and camera-encoder head dims (24, 48, 96), block edges everywhere.
TEST(Attention, EveryCpuFlashVariantInBf16) {
  using kernels::FlashCpuIsa;
  for (kernels::FlashCpuTiling tiling : {kernels::FlashCpuTiling{}, kernels::FlashCpuTiling{1, 16}, kernels::FlashCpuTiling{3, 40}})
    for (const Case& c : {Case{2, 1, 1, 2, 64}, Case{1, 65, 67, 3, 32}, Case{1, 130, 97, 2, 128, AttentionLayout::BHND},
                          Case{1, 77, 45, 2, 24}, Case{1, 50, 131, 1, 48}, Case{1, 33, 70, 2, 96}, Case{1, 40, 41, 1, 7},
                          Case{1, 1297, 1297, 1, 64}}) {
      if (c.nq > 1000 && tiling.strips != 0) continue;
      const Inputs in = make_inputs(c, 750);
      const bool bnhd = c.layout == AttentionLayout::BNHD;
      auto op = [&](const Tensor& t) {
        return kernels::AttnOperand{t.data(), t.dtype(), t.stride(0), bnhd ? t.stride(1) : t.stride(2),
                                    bnhd ? t.stride(2) : t.stride(1)};
      };
      std::vector<double> emulated;  // the first supported variant's result (the plain C++ one)
      for (FlashCpuIsa isa : {FlashCpuIsa::Scalar, FlashCpuIsa::Avx2, FlashCpuIsa::Avx512, FlashCpuIsa::Avx512Bf16, FlashCpuIsa::Amx}) {
        if (!kernels::flash_cpu_isa_supported(isa)) continue;
        Tensor out = test::nan_like(in.q.shape(), DType::F32);
        kernels::AttentionProblem p;
        p.batch = c.B; p.heads = c.H; p.nq = c.nq; p.nk = c.nk; p.head_dim = c.D;
        p.q = op(in.q); p.k = op(in.k); p.v = op(in.v);
        const kernels::AttnOperand o = op(out);
        p.out = {out.data(), DType::F32, o.sb, o.sn, o.sh};
        p.scale = 1.f / std::sqrt(float(c.D));
        p.compute = kernels::ComputeType::BF16;
        p.threads = num_threads();
        kernels::attention_flash_cpu(p, isa, tiling);
        const auto ref = test::attention_oracle(in.qd, in.kd, in.vd, c.B, c.H, c.nq, c.nk, c.D, p.scale);
        const std::string what = std::string(kernels::flash_cpu_isa_name(isa)) + " tiling " +
                                 std::to_string(tiling.strips) + "/" + std::to_string(tiling.block_k) + " " + describe(c);
        const std::vector<double> got = test::to_bhnd(out, c.layout);
        EXPECT_LT(test::rel_error(got, ref), kLowTol) << what;
        if (emulated.empty()) emulated = got;
        else EXPECT_LT(test::rel_error(got, emulated), 2e-3) << what << " vs the fp32 body's bf16 emulation";
      }
    }
}

// Scores whose row maximum jumps by large amounts from one key block to the next (and a late
// "attention sink" key): the online softmax's rescale must stay exact, including when the old
// contributions underflow to zero.
TEST(Attention, RunningMaxJumpsAcrossKeyBlocks) {
  const int64_t nq = 37, nk = 1500, D = 64;
  Tensor q = random_tensor({1, nq, 1, D}, 1300), k = random_tensor({1, nk, 1, D}, 1301);
  const Tensor v = random_tensor({1, nk, 1, D}, 1302);
  float* kp = k.data_as<float>();
  const float* qp = q.data_as<float>();
  for (int64_t j = 0; j < nk; ++j)
    for (int64_t d = 0; d < D; ++d) {
      // Key j leans towards query 0 more and more (score ~ j/10), plus one sink key near the end.
      kp[j * D + d] += qp[d] * (j == nk - 3 ? 60.f : float(j) / 600.f);
    }
  for (AttentionBackend be : kBackends) {
    AttentionOptions opts;
    opts.backend = be;
    const Tensor out = attention(q, k, v, opts);
    const auto ref = test::attention_oracle(test::to_bhnd(q, AttentionLayout::BNHD), test::to_bhnd(k, AttentionLayout::BNHD),
                                            test::to_bhnd(v, AttentionLayout::BNHD), 1, 1, nq, nk, D, 0.125);
    EXPECT_LT(test::rel_error(test::to_bhnd(out, AttentionLayout::BNHD), ref), kF32Tol) << attention_backend_name(be);
  }
}

TEST(Attention, ViewsOnAQkvBufferNeedNoCopyAndWriteIntoAView) {
  // q, k, v as the model has them: views on one (B, N, 3, H, D) qkv buffer; the output written
  // into a (B, N, H*D) buffer viewed as (B, N, H, D).
  const int64_t B = 2, N = 77, H = 3, D = 64;
  const Tensor qkv = random_tensor({B, N, 3, H, D}, 800);
  const Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  ASSERT_FALSE(q.is_contiguous());
  for (AttentionBackend be : kBackends) {
    Tensor buf = test::nan_like({B, N, H * D}, DType::F32);
    Tensor out = buf.view({B, N, H, D});
    AttentionOptions opts;
    opts.backend = be;
    AttentionStats st;
    opts.stats = &st;
    attention_into(q, k, v, out, opts);
    const auto ref = test::attention_oracle(test::to_bhnd(q, AttentionLayout::BNHD), test::to_bhnd(k, AttentionLayout::BNHD),
                                            test::to_bhnd(v, AttentionLayout::BNHD), B, H, N, N, D, 1.0 / 8.0);
    EXPECT_LT(test::rel_error(test::to_bhnd(out, AttentionLayout::BNHD), ref), kF32Tol) << attention_backend_name(be);
    if (be == AttentionBackend::FlashAttn) {
      // No copies of q, k, v: the scratch is the kernel's own (packed K/V of one head per thread,
      // far below the inputs' size times two).
      EXPECT_LT(st.scratch_bytes, size_t(num_threads()) * (2 * N * D + 72 * 128 + 4 * 72 * D + 1024) * 4 + 4096);
    }
  }
}

TEST(Attention, CustomScaleAndOutputDtype) {
  const Case c{1, 50, 60, 2, 32};
  const Inputs in = make_inputs(c, 900);
  for (AttentionBackend be : kBackends) {
    AttentionOptions opts;
    opts.backend = be;
    opts.scale = 0.37f;
    Tensor out = test::nan_like(in.q.shape(), DType::BF16);
    attention_into(in.q, in.k, in.v, out, opts);
    const auto ref = test::attention_oracle(in.qd, in.kd, in.vd, c.B, c.H, c.nq, c.nk, c.D, 0.37);
    EXPECT_LT(test::rel_error(test::to_bhnd(out, c.layout), ref), kLowTol) << attention_backend_name(be);
    const Tensor out2 = attention(in.q, in.k, in.v, opts);
    EXPECT_EQ(out2.dtype(), DType::F32);
    EXPECT_LT(test::rel_error(test::to_bhnd(out2, c.layout), ref), kF32Tol) << attention_backend_name(be);
  }
}

TEST(Attention, SixteenViewGlobalAttentionScratchIsLinearInTokens) {
  // Keys of 16 views (16 x 1297 tokens); a few queries keep the oracle cheap. Flash scratch must
  // grow linearly with the key count (K/V of one head per thread), never with Nq x Nk.
  const int64_t nk = 16 * 1297;
  AttentionStats big, half;
  EXPECT_LT(error_of({1, 20, nk, 1, 64}, AttentionBackend::FlashAttn, 1000, {}, AttentionPrecision::Auto, &big), kF32Tol);
  EXPECT_LT(error_of({1, 20, nk / 2, 1, 64}, AttentionBackend::FlashAttn, 1001, {}, AttentionPrecision::Auto, &half), kF32Tol);
  ASSERT_GT(half.scratch_bytes, 0u);
  const double ratio = double(big.scratch_bytes) / double(half.scratch_bytes);
  EXPECT_LT(ratio, 2.2);
  EXPECT_LT(big.scratch_bytes, size_t(num_threads()) * size_t(nk) * 64 * 4 * 2 + (1u << 20));
}

TEST(Attention, BadInputsThrowClearErrors) {
  const Tensor q = random_tensor({1, 8, 2, 16}, 1), k = random_tensor({1, 9, 2, 16}, 2);
  const Tensor v_bad = random_tensor({1, 9, 2, 8}, 3);
  EXPECT_THROW(attention(q, k, v_bad), Error);
  EXPECT_THROW(attention(q, k, random_tensor({1, 10, 2, 16}, 4)), Error);
  EXPECT_THROW(attention(q.view({8, 2, 16}), k, k), Error);
  AttentionOptions opts;
  opts.mask = random_tensor({1, 8, 10}, 5);  // Nk is 9
  EXPECT_THROW(attention(q, k, k, opts), Error);
  try {
    attention(q, k, v_bad);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention"), std::string::npos);
  }
}

}  // namespace
}  // namespace da3
