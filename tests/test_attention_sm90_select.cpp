// The host-side choices around the Hopper flash kernel (kernels/cuda/attention_flash_sm90_select):
// tile names, DA3_CUDA_FLASH_KERNEL specs, the "can TMA describe this operand" geometry and the
// kernel choice with its fallbacks. Plain C++: runs in every build, no GPU needed (the kernel
// itself is tested in test_attention_cuda.cpp, on a Hopper GPU only).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/attention_flash_sm90_select.hpp"

namespace da3::kernels::cuda {
namespace {

// A fake, never dereferenced, 256-byte-aligned device address.
const void* addr(uintptr_t a = 0x7f0000000000) { return reinterpret_cast<const void*>(a); }

// An operand with (B, N, H, D) element strides for a layout of D = 64.
AttnOperand bnhd(int64_t N, int64_t H, DType dt = DType::BF16, const void* p = addr()) {
  return {p, dt, N * H * 64, H * 64, 64};
}
AttnOperand bhnd(int64_t N, int64_t H, DType dt = DType::BF16, const void* p = addr()) {
  return {p, dt, H * N * 64, 64, N * 64};
}

AttentionProblem problem(int64_t B, int64_t N, int64_t H, DType dt = DType::BF16) {
  AttentionProblem p;
  p.batch = B;
  p.heads = H;
  p.nq = p.nk = N;
  p.head_dim = 64;
  p.compute = ComputeType::BF16;
  p.q = p.k = p.v = bnhd(N, H, dt);
  p.scale = 0.125f;
  return p;
}

TEST(AttentionSm90Select, TileNamesRoundTrip) {
  ASSERT_GE(kSm90TileCount, 2);
  for (int i = 0; i < kSm90TileCount; ++i) {
    const std::string name = sm90_tile_name(i);
    ASSERT_EQ(parse_sm90_tile(name), i) << name;
    const Sm90Tile& t = kSm90Tiles[i];
    EXPECT_EQ(name, std::to_string(t.block_m) + "x" + std::to_string(t.block_n) + "x" + std::to_string(t.stages));
    // What the kernel's traits static_assert, checked here too so a bad entry fails on a CPU.
    EXPECT_TRUE(t.block_m == 128 || t.block_m == 192) << name;
    EXPECT_EQ(t.block_n % 16, 0) << name;
    EXPECT_LE(t.block_n, 256) << name;
    EXPECT_GE(t.stages, 2) << name;
    EXPECT_LE(size_t(t.block_m) * 128 + 2 * size_t(t.stages) * t.block_n * 128 + 1024, size_t(227) * 1024) << name;
  }
  EXPECT_EQ(sm90_tile_name(kSm90DefaultTile), "128x128x2");
  EXPECT_EQ(parse_sm90_tile(" 128X128X2 "), 0);
  EXPECT_FALSE(parse_sm90_tile("64x64x2").has_value());
  EXPECT_FALSE(parse_sm90_tile("").has_value());
  EXPECT_FALSE(parse_sm90_tile("128x128").has_value());
  EXPECT_EQ(sm90_tile_name(-1), "?");
  EXPECT_NE(sm90_tile_list().find("128x176x2"), std::string::npos);
}

TEST(AttentionSm90Select, KernelSpecs) {
  auto spec = parse_flash_kernel_spec("auto");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kernel, FlashKernel::Auto);
  spec = parse_flash_kernel_spec(" FA2 ");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kernel, FlashKernel::Fa2);
  spec = parse_flash_kernel_spec("Sm90");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kernel, FlashKernel::Sm90);
  EXPECT_EQ(spec->sm90_tile, kSm90DefaultTile);
  spec = parse_flash_kernel_spec("sm90:128x176x2");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->kernel, FlashKernel::Sm90);
  EXPECT_EQ(sm90_tile_name(spec->sm90_tile), "128x176x2");
  for (const char* bad : {"", "fa3", "sm90:", "sm90:1x1x1", "sm90 128x128x2", "flash"})
    EXPECT_FALSE(parse_flash_kernel_spec(bad).has_value()) << "'" << bad << "'";
  EXPECT_STREQ(flash_kernel_name(FlashKernel::Sm90), "sm90");
}

TEST(AttentionSm90Select, GeometrySortsDimsByStride) {
  std::string why;
  // (B, N, H, D) contiguous: H has the smaller stride, so the map is (D, H, N, B).
  auto g = sm90_tma_geometry(bnhd(1297, 16), ComputeType::BF16, 1297, 16, 2, 64, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->dims[0], 64u);
  EXPECT_EQ(g->pos_h, 1);
  EXPECT_EQ(g->pos_n, 2);
  EXPECT_EQ(g->pos_b, 3);
  EXPECT_EQ(g->dims[1], 16u);
  EXPECT_EQ(g->dims[2], 1297u);
  EXPECT_EQ(g->dims[3], 2u);
  EXPECT_EQ(g->strides_bytes[0], 128u);
  EXPECT_EQ(g->strides_bytes[1], 16u * 128);
  EXPECT_EQ(g->strides_bytes[2], 1297u * 16 * 128);

  // (B, H, N, D) contiguous: (D, N, H, B).
  g = sm90_tma_geometry(bhnd(5189, 16), ComputeType::BF16, 5189, 16, 1 + 2, 64, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->pos_n, 1);
  EXPECT_EQ(g->pos_h, 2);
  EXPECT_EQ(g->pos_b, 3);
  EXPECT_EQ(g->strides_bytes[0], 128u);
  EXPECT_EQ(g->strides_bytes[1], 5189u * 128);

  // q of a fused qkv buffer (B, N, 3, H, D): sn = 3·H·D, sh = D, base not at the buffer start.
  const int64_t H = 16, N = 1297;
  const AttnOperand q{addr(0x7f0000000000 + 2 * H * 64 * 2), DType::F16, N * 3 * H * 64, 3 * H * 64, 64};
  g = sm90_tma_geometry(q, ComputeType::F16, N, H, 4, 64, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->pos_h, 1);
  EXPECT_EQ(g->pos_n, 2);
  EXPECT_EQ(g->strides_bytes[1], uint64_t(3 * H * 64 * 2));
}

TEST(AttentionSm90Select, GeometrySizeOneDimsGoLastWithCoveringStrides) {
  std::string why;
  // Batch 1 with a meaningless batch stride (odd, even 0): ignored.
  AttnOperand op = bnhd(65, 3);
  op.sb = 7;
  auto g = sm90_tma_geometry(op, ComputeType::BF16, 65, 3, 1, 64, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->pos_b, 3);
  EXPECT_EQ(g->dims[3], 1u);
  EXPECT_GE(g->strides_bytes[2], g->strides_bytes[1] * g->dims[2]);
  // One token, one head (N = 1, H = 1): both size-1 dims after B, strides increasing.
  op = bhnd(1, 1);
  g = sm90_tma_geometry(op, ComputeType::BF16, 1, 1, 5, 64, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->pos_b, 1);
  EXPECT_EQ(g->dims[1], 5u);
  EXPECT_LE(g->strides_bytes[0], g->strides_bytes[1]);
  EXPECT_LE(g->strides_bytes[1], g->strides_bytes[2]);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g->strides_bytes[i] % 16, 0u);
}

TEST(AttentionSm90Select, GeometryRefusesWhatTmaCannotDescribe) {
  std::string why;
  // A row stride of 65 elements (130 bytes): not a multiple of 16 bytes.
  AttnOperand op{addr(), DType::BF16, 100 * 65, 65, 100 * 65 * 2};
  EXPECT_FALSE(sm90_tma_geometry(op, ComputeType::BF16, 100, 1, 1, 64, &why));
  EXPECT_NE(why.find("16 bytes"), std::string::npos) << why;
  // A base address off 16-byte alignment.
  EXPECT_FALSE(sm90_tma_geometry(bnhd(64, 2, DType::BF16, addr(0x7f0000000008)), ComputeType::BF16, 64, 2, 1, 64, &why));
  EXPECT_NE(why.find("aligned"), std::string::npos) << why;
  // Another dtype than the compute type, another head dim, a broadcast (stride 0) dim.
  EXPECT_FALSE(sm90_tma_geometry(bnhd(64, 2, DType::F32), ComputeType::BF16, 64, 2, 1, 64, &why));
  EXPECT_NE(why.find("f32"), std::string::npos) << why;
  EXPECT_FALSE(sm90_tma_geometry(bnhd(64, 2, DType::F16), ComputeType::BF16, 64, 2, 1, 64, &why));
  EXPECT_FALSE(sm90_tma_geometry(bnhd(64, 2), ComputeType::BF16, 64, 2, 1, 128, &why));
  EXPECT_NE(why.find("head dim"), std::string::npos) << why;
  op = bnhd(64, 2);
  op.sh = 0;
  EXPECT_FALSE(sm90_tma_geometry(op, ComputeType::BF16, 64, 2, 1, 64, &why));
  EXPECT_FALSE(sm90_tma_geometry(bnhd(64, 2), ComputeType::F32, 64, 2, 1, 64, &why));
}

TEST(AttentionSm90Select, ChoiceAndFallbacks) {
  const AttentionProblem p = problem(2, 1297, 16);
  const FlashKernelSpec sm90{FlashKernel::Sm90, 2};
  // auto and fa2 are fa2, silently (auto flips to sm90 only after a GPU run validates it).
  for (FlashKernel k : {FlashKernel::Auto, FlashKernel::Fa2}) {
    const FlashKernelChoice c = choose_flash_kernel({k, 0}, 9, 0, p);
    EXPECT_EQ(c.kernel, FlashKernel::Fa2);
    EXPECT_TRUE(c.note.empty());
  }
  // sm90 on Hopper with bf16 operands TMA can read: sm90, the tile kept, nothing converted.
  FlashKernelChoice c = choose_flash_kernel(sm90, 9, 0, p);
  EXPECT_EQ(c.kernel, FlashKernel::Sm90);
  EXPECT_EQ(c.sm90_tile, 2);
  EXPECT_FALSE(c.convert_q || c.convert_k || c.convert_v);
  EXPECT_TRUE(c.note.empty());
  // ... not on Ampere / Ada / Blackwell: fa2 and a note naming the compute capability.
  for (int cc : {80, 86, 89, 100, 120}) {
    c = choose_flash_kernel(sm90, cc / 10, cc % 10, p);
    EXPECT_EQ(c.kernel, FlashKernel::Fa2) << cc;
    EXPECT_NE(c.note.find(std::to_string(cc / 10) + "." + std::to_string(cc % 10)), std::string::npos) << c.note;
  }
  // f32 operands (the model's path): converted copies, so sm90 still runs.
  AttentionProblem pf = problem(1, 5189, 16, DType::F32);
  pf.v.dtype = DType::BF16;
  c = choose_flash_kernel(sm90, 9, 0, pf);
  EXPECT_EQ(c.kernel, FlashKernel::Sm90);
  EXPECT_TRUE(c.convert_q && c.convert_k);
  EXPECT_FALSE(c.convert_v);
  // bf16 operands with strides TMA cannot take: fa2, the note names the operand.
  AttentionProblem pu = problem(1, 100, 1);
  pu.k = {addr(), DType::BF16, 100 * 65, 65, 100 * 65 * 2};
  c = choose_flash_kernel(sm90, 9, 0, pu);
  EXPECT_EQ(c.kernel, FlashKernel::Fa2);
  EXPECT_NE(c.note.find("k: "), std::string::npos) << c.note;
  EXPECT_NE(c.note.find("using fa2"), std::string::npos) << c.note;
  // Head dims other than 64, a mask, a bad tile index: fa2.
  AttentionProblem ph = problem(1, 64, 2);
  ph.head_dim = 128;
  EXPECT_EQ(choose_flash_kernel(sm90, 9, 0, ph).kernel, FlashKernel::Fa2);
  AttentionProblem pm = problem(1, 64, 2);
  pm.mask.data = addr();
  EXPECT_EQ(choose_flash_kernel(sm90, 9, 0, pm).kernel, FlashKernel::Fa2);
  EXPECT_EQ(choose_flash_kernel({FlashKernel::Sm90, kSm90TileCount}, 9, 0, p).kernel, FlashKernel::Fa2);
  // f16 compute with f16 operands.
  AttentionProblem p16 = problem(3, 33, 1, DType::F16);
  p16.compute = ComputeType::F16;
  c = choose_flash_kernel(sm90, 9, 0, p16);
  EXPECT_EQ(c.kernel, FlashKernel::Sm90);
  EXPECT_FALSE(c.convert_q || c.convert_k || c.convert_v);
}

}  // namespace
}  // namespace da3::kernels::cuda
