#pragma once
// The host-side half of the Hopper flash-attention kernel (attention_flash_sm90.cu): which tile
// configurations exist, how DA3_CUDA_FLASH_KERNEL / DA3_CUDA_FLASH_SM90_TILE are parsed, whether
// TMA can describe an operand's strides, and which kernel a call gets. Plain C++ with no CUDA
// header, compiled into every build (attention_flash_sm90_select.cpp) so that the CPU test suite
// checks it (tests/test_attention_sm90_select.cpp); only the kernel itself needs sm_90a.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/cpu/attention_problem.hpp"

namespace da3::kernels::cuda {

// One compiled configuration of the sm90 kernel: kBlockM query rows per CTA (64 per consumer
// warpgroup), kBlockN keys per K/V tile, kStages tiles in the shared-memory ring. The kernel's
// traits struct (Sm90FlashTraits in attention_flash_sm90.cu) is instantiated for exactly these.
struct Sm90Tile {
  int block_m, block_n, stages;
};
inline constexpr Sm90Tile kSm90Tiles[] = {{128, 128, 2}, {128, 128, 3}, {128, 176, 2}, {192, 128, 2}};
inline constexpr int kSm90TileCount = static_cast<int>(sizeof(kSm90Tiles) / sizeof(kSm90Tiles[0]));
inline constexpr int kSm90DefaultTile = 0;
inline constexpr int64_t kSm90HeadDim = 64;

std::string sm90_tile_name(int index);  // "128x128x2"
// "128x128x2" (also "128X128X2") -> its index in kSm90Tiles; nullopt when not compiled.
std::optional<int> parse_sm90_tile(std::string_view s);
std::string sm90_tile_list();  // "128x128x2, 128x128x3, ..." for messages

// Which CUDA flash kernel: fa2 = attention_flash.cu (mma.sync, sm_75+), sm90 = the Hopper
// kernel. Auto is fa2 for now: the sm90 kernel has been compiled but never run on a GPU
// (docs/gpu.md says how a GPU session validates it and makes auto pick it on cc 9.x).
enum class FlashKernel : uint8_t { Auto, Fa2, Sm90 };
const char* flash_kernel_name(FlashKernel k);

struct FlashKernelSpec {
  FlashKernel kernel = FlashKernel::Auto;
  int sm90_tile = kSm90DefaultTile;
};
// "auto", "fa2", "sm90" or "sm90:<tile>" ("sm90:128x176x2"), case-insensitive, surrounding
// blanks ignored; nullopt for anything else.
std::optional<FlashKernelSpec> parse_flash_kernel_spec(std::string_view s);

// How a TMA tensor map sees one (B, N, H, D) operand with element strides sb, sn, sh: a 4-D
// tensor whose dim 0 is the head dim (contiguous, 64 elements = one 128-byte row) and whose dims
// 1..3 are N, H and B sorted by increasing stride (dims of size 1 last, with a stride that covers
// the dims below them). Sorting keeps the strides increasing, as cuTensorMapEncodeTiled's
// documentation describes them; a box of {64, 1 or rows, ...} then lands in shared memory as
// `rows` rows of 128 bytes whichever position N has. pos_n / pos_h / pos_b: where N, H and B
// went (1..3), i.e. which TMA coordinate carries each.
struct Sm90TmaGeometry {
  uint64_t dims[4];          // elements: 64, then the three sorted dims
  uint64_t strides_bytes[3];  // of dims 1..3 (dim 0 is contiguous)
  int pos_n, pos_h, pos_b;
};

// The geometry, or nullopt (and `why`) when TMA cannot describe the operand: TMA needs a
// 16-byte-aligned base address, strides that are positive multiples of 16 bytes below 2^40, dims
// below 2^32, a contiguous head dim of 64 and a 2-byte element type equal to the compute type.
std::optional<Sm90TmaGeometry> sm90_tma_geometry(const AttnOperand& op, ComputeType compute, int64_t n,
                                                 int64_t heads, int64_t batch, int64_t head_dim, std::string* why);

struct FlashKernelChoice {
  FlashKernel kernel = FlashKernel::Fa2;  // never Auto
  int sm90_tile = kSm90DefaultTile;
  // sm90 only: q / k / v in another dtype than the compute type must first be converted to
  // contiguous (B, H, N, D) copies in the compute type (TMA copies bytes, it cannot convert).
  bool convert_q = false, convert_k = false, convert_v = false;
  std::string note;  // why sm90 was asked for and not given (empty otherwise): one log line
};

// The kernel a call gets. Auto and Fa2 -> fa2. Sm90 -> sm90 when the device is cc 9.x, the head
// dim is 64, the compute type is bf16 or f16 and no mask is set; operands in another dtype are
// converted (convert_*), operands already in the compute type are read in place and must pass
// sm90_tma_geometry, else the call falls back to fa2 with `note` saying why.
FlashKernelChoice choose_flash_kernel(const FlashKernelSpec& requested, int cc_major, int cc_minor,
                                      const AttentionProblem& p);

}  // namespace da3::kernels::cuda
