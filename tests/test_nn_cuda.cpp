// The nn/ ops, QK-norm, RoPE, the attention module and a whole ViT block on CUDA against the same
// code on the CPU (the CPU path is itself checked against the reference by the fixture tests).
// fp32 on the GPU is true fp32 (no TF32), so the bound is 1e-5 relative, norm-wise; bf16 1e-2.
// Every test skips, saying why, without CUDA or a GPU; scripts/gpu-check.sh runs them on one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "da3/attention.hpp"
#include "da3/checkpoint.hpp"
#include "da3/cuda.hpp"
#include "da3/safetensors.hpp"
#include "model/dinov2/attention.hpp"
#include "model/dinov2/block.hpp"
#include "model/weights.hpp"
#include "nn/activations.hpp"
#include "nn/elementwise.hpp"
#include "nn/linear.hpp"
#include "nn/norm.hpp"
#include "test_util.hpp"

namespace da3 {
namespace {

#ifdef DA3_WITH_CUDA

}  // namespace
}  // namespace da3
#include "core/cuda_context.hpp"
namespace da3 {
namespace {

#define SKIP_WITHOUT_GPU()                                                               \
  do {                                                                                   \
    if (cuda_devices().empty()) GTEST_SKIP() << "no CUDA device: " << cuda_status();     \
  } while (0)


Tensor gpu(const Tensor& t) { return t.to(Device::CUDA); }
Tensor host(const Tensor& t) { return t.to(Device::CPU).to(DType::F32); }

TEST(TensorCuda, CopiesConvertAndStridesRoundTrip) {
  SKIP_WITHOUT_GPU();
  const Tensor a = test::randn({3, 5, 7}, 1);
  EXPECT_EQ(test::rel_err(host(gpu(a)), a), 0.0);
  // A strided view copied onto the device, a strided device view copied back.
  const Tensor view = a.transpose(0, 2);
  EXPECT_EQ(test::rel_err(host(gpu(view)), view.contiguous()), 0.0);
  const Tensor dv = gpu(a).transpose(0, 2);
  EXPECT_EQ(test::rel_err(host(dv.contiguous()), view.contiguous()), 0.0);
  // bf16 on the device: the same rounding as the host conversion.
  const Tensor b16 = gpu(a).to(DType::BF16);
  EXPECT_EQ(test::rel_err(host(b16), a.to(DType::BF16).to(DType::F32)), 0.0);
  Tensor f = Tensor::empty({4, 4}, DType::F32, Device::CUDA);
  f.fill(2.5f);
  EXPECT_EQ(f.item_f({3, 3}), 2.5f);
}

TEST(TensorCuda, AllocatorReusesFreedBlocks) {
  SKIP_WITHOUT_GPU();
  { Tensor warm = Tensor::empty({1 << 20}, DType::F32, Device::CUDA); }
  const size_t before = cuda::memory_stats().device_allocs;
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({1 << 20}, DType::F32, Device::CUDA);
  EXPECT_EQ(cuda::memory_stats().device_allocs, before);
}

TEST(NnCuda, LayerNormMatchesCpuOnContiguousAndStridedRows) {
  SKIP_WITHOUT_GPU();
  const Tensor x = test::randn({2, 37, 384}, 2, 2.f, 0.5f), w = test::randn({384}, 3, 0.1f, 1.f), b = test::randn({384}, 4, 0.1f);
  EXPECT_LT(test::rel_err(host(nn::layer_norm(gpu(x), w, b, 1e-6f)), nn::layer_norm(x, w, b, 1e-6f)), 1e-6);
  // Every other row of a wider buffer (rows strided, last dim contiguous).
  const Tensor wide = test::randn({2, 74, 384}, 5);
  const Tensor sv = wide.slice(1, 0, 37);
  Tensor out_h = Tensor::empty({2, 37, 384}), out_d = Tensor::empty({2, 37, 384}, DType::F32, Device::CUDA);
  nn::layer_norm(sv, w, b, 1e-5f, out_h);
  nn::layer_norm(gpu(wide).slice(1, 0, 37), w, b, 1e-5f, out_d);
  EXPECT_LT(test::rel_err(host(out_d), out_h), 1e-6);
}

TEST(NnCuda, ActivationsAddReluSwigluMatchCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor x = test::randn({3, 1000}, 6, 2.f);
  using Fn = void (*)(Tensor&);
  const std::vector<std::pair<const char*, Fn>> ops{{"gelu", nn::gelu_}, {"relu", nn::relu_}, {"silu", nn::silu_},
                                                    {"sigmoid", nn::sigmoid_}, {"exp", nn::exp_}, {"expp1", nn::expp1_}};
  for (const auto& [name, fn] : ops) {
    Tensor h = x.clone(), d = gpu(x);
    fn(h);
    fn(d);
    EXPECT_LT(test::rel_err(host(d), h), 1e-6) << name;
  }
  const Tensor y = test::randn({3, 1000}, 7);
  EXPECT_LT(test::rel_err(host(nn::add(gpu(x), gpu(y))), nn::add(x, y)), 1e-7);
  EXPECT_EQ(test::rel_err(host(nn::relu(gpu(x))), nn::relu(x)), 0.0);
  EXPECT_LT(test::rel_err(host(nn::swiglu(gpu(x))), nn::swiglu(x)), 1e-6);
}

struct LinearCase {
  nn::Activation act;
  bool scale, accumulate;
};

TEST(NnCuda, LinearMatchesCpuWithEveryEpilogue) {
  SKIP_WITHOUT_GPU();
  const int64_t in = 384, out = 1536;
  const Tensor w = test::randn({out, in}, 8, 1.f / std::sqrt(float(in))), b = test::randn({out}, 9, 0.1f);
  const nn::Linear lin(w, b, "test.fc");
  const Tensor x = test::randn({2, 293, in}, 10), scale = test::randn({out}, 11, 0.3f, 1.f), resid = test::randn({2, 293, out}, 12);
  for (const LinearCase c : {LinearCase{nn::Activation::None, false, false}, {nn::Activation::Gelu, false, false},
                             {nn::Activation::Relu, false, false}, {nn::Activation::None, false, true},
                             {nn::Activation::None, true, true}, {nn::Activation::Gelu, true, false}}) {
    Tensor acc_h = resid.clone(), acc_d = gpu(resid);
    nn::LinearEpilogue eh{c.act, c.scale ? &scale : nullptr, c.accumulate ? &acc_h : nullptr};
    nn::LinearEpilogue ed{c.act, c.scale ? &scale : nullptr, c.accumulate ? &acc_d : nullptr};
    const Tensor yh = lin.forward(x, eh);
    const Tensor yd = lin.forward(gpu(x), ed);
    const std::string what = "act " + std::to_string(int(c.act)) + " scale " + std::to_string(c.scale) +
                             " accumulate " + std::to_string(c.accumulate);
    EXPECT_LT(test::rel_err(host(yd), yh), 1e-5) << what;
    if (c.accumulate) EXPECT_LT(test::rel_err(host(acc_d), acc_h), 1e-5) << what;
  }
  // bf16 activations: weights converted on upload, fp32 accumulation.
  const Tensor yb = lin.forward(gpu(x).to(DType::BF16), {nn::Activation::Gelu});
  EXPECT_EQ(yb.dtype(), DType::BF16);
  EXPECT_LT(test::rel_err(host(yb), lin.forward(x, {nn::Activation::Gelu})), 1e-2);
}

TEST(NnCuda, QkNormAndRopeOnStridedQkvViewsMatchCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t B = 2, N = 1 + 6 * 5, H = 6, D = 64;
  const Tensor qkv = test::randn({B, N, 3, H, D}, 13);
  const Tensor w = test::randn({D}, 14, 0.1f, 1.f), b = test::randn({D}, 15, 0.1f);
  const Tensor pos = rope_positions(6, 5, 1);
  Tensor h = qkv.clone(), d = gpu(qkv);
  for (int64_t i = 0; i < 2; ++i) {
    Tensor qh = h.select(2, i), qd = d.select(2, i);
    qk_layer_norm_inplace(qh, w, b, 1e-5f);
    qk_layer_norm_inplace(qd, w, b, 1e-5f);
    rope_2d_inplace(qh, pos, AttentionLayout::BNHD, 100.f);
    rope_2d_inplace(qd, pos, AttentionLayout::BNHD, 100.f);
  }
  EXPECT_LT(test::rel_err(host(d), h), 1e-6);
}

// A checkpoint of random parameters for one ViT block (DINOv2 names), opened as a Checkpoint.
Checkpoint random_block_checkpoint(const test::TempDir& dir, int64_t dim, int64_t heads, int64_t hidden,
                                   uint32_t seed) {
  const int64_t hd = dim / heads;
  const float ws = 1.f / std::sqrt(float(dim));
  const std::vector<std::pair<std::string, Tensor>> p{
      {"norm1.weight", test::randn({dim}, seed, 0.1f, 1.f)},       {"norm1.bias", test::randn({dim}, seed + 1, 0.1f)},
      {"norm2.weight", test::randn({dim}, seed + 2, 0.1f, 1.f)},   {"norm2.bias", test::randn({dim}, seed + 3, 0.1f)},
      {"ls1.gamma", test::randn({dim}, seed + 4, 0.1f, 0.5f)},     {"ls2.gamma", test::randn({dim}, seed + 5, 0.1f, 0.5f)},
      {"attn.qkv.weight", test::randn({3 * dim, dim}, seed + 6, ws)}, {"attn.qkv.bias", test::randn({3 * dim}, seed + 7, 0.02f)},
      {"attn.proj.weight", test::randn({dim, dim}, seed + 8, ws)}, {"attn.proj.bias", test::randn({dim}, seed + 9, 0.02f)},
      {"attn.q_norm.weight", test::randn({hd}, seed + 10, 0.1f, 1.f)}, {"attn.q_norm.bias", test::randn({hd}, seed + 11, 0.1f)},
      {"attn.k_norm.weight", test::randn({hd}, seed + 12, 0.1f, 1.f)}, {"attn.k_norm.bias", test::randn({hd}, seed + 13, 0.1f)},
      {"mlp.fc1.weight", test::randn({hidden, dim}, seed + 14, ws)}, {"mlp.fc1.bias", test::randn({hidden}, seed + 15, 0.02f)},
      {"mlp.fc2.weight", test::randn({dim, hidden}, seed + 16, 1.f / std::sqrt(float(hidden)))},
      {"mlp.fc2.bias", test::randn({dim}, seed + 17, 0.02f)},
  };
  save_safetensors(dir.file("model.safetensors"), p);
  std::FILE* f = std::fopen(dir.file("config.json").c_str(), "w");
  std::fputs("{}\n", f);
  std::fclose(f);
  return Checkpoint::open(dir.path().string());
}

TEST(ModelCuda, VitBlockMatchesCpuInFp32AndBf16) {
  SKIP_WITHOUT_GPU();
  const int64_t dim = 384, heads = 6;
  const test::TempDir dir;
  const Checkpoint ckpt = random_block_checkpoint(dir, dim, heads, 4 * dim, 20);
  const model::Weights w(ckpt);
  const model::Block block(w, dim, heads, 4.0, "mlp", /*qk_norm=*/true, /*rope=*/true, 100.f, 1e-6f,
                           /*fold_layer_scale=*/true);
  w.finish();
  const Tensor x = test::randn({2, 1 + 9 * 8, dim}, 30);
  const Tensor pos = rope_positions(9, 8, 1);
  AttentionOptions fp32;
  fp32.precision = AttentionPrecision::F32;  // sdpa on both devices: fp32 throughout
  Tensor xh = x.clone(), xd = gpu(x);
  block.forward(xh, pos, fp32);
  block.forward(xd, pos, fp32);
  EXPECT_LT(test::rel_err(host(xd), xh), 1e-5);
  // The GPU's default: flash attention in bf16, everything else fp32.
  Tensor xf = gpu(x);
  block.forward(xf, pos, AttentionOptions{});
  EXPECT_LT(test::rel_err(host(xf), xh), 1e-2);
}

#else

TEST(NnCuda, NotBuilt) { GTEST_SKIP() << "this build has no CUDA"; }

#endif

}  // namespace
}  // namespace da3
