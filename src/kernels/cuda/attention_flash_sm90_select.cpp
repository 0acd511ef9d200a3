// Host-side choices for the Hopper flash kernel: see attention_flash_sm90_select.hpp. No CUDA
// here, so every build compiles it and the CPU test suite runs it.
#include "kernels/cuda/attention_flash_sm90_select.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace da3::kernels::cuda {

namespace {

using da3::detail::lower_trimmed;

bool fail(std::string* why, const std::string& msg) {
  if (why) *why = msg;
  return false;
}

DType compute_dtype(ComputeType c) { return c == ComputeType::BF16 ? DType::BF16 : DType::F16; }

}  // namespace

std::string sm90_tile_name(int index) {
  if (index < 0 || index >= kSm90TileCount) return "?";
  const Sm90Tile& t = kSm90Tiles[index];
  return std::to_string(t.block_m) + "x" + std::to_string(t.block_n) + "x" + std::to_string(t.stages);
}

std::optional<int> parse_sm90_tile(std::string_view s) {
  const std::string want = lower_trimmed(s);
  for (int i = 0; i < kSm90TileCount; ++i)
    if (sm90_tile_name(i) == want) return i;
  return std::nullopt;
}

std::string sm90_tile_list() {
  std::string out;
  for (int i = 0; i < kSm90TileCount; ++i) out += (i ? ", " : "") + sm90_tile_name(i);
  return out;
}

const char* flash_kernel_name(FlashKernel k) {
  switch (k) {
    case FlashKernel::Auto: return "auto";
    case FlashKernel::Fa2: return "fa2";
    case FlashKernel::Sm90: return "sm90";
  }
  return "?";
}

std::optional<FlashKernelSpec> parse_flash_kernel_spec(std::string_view s) {
  const std::string v = lower_trimmed(s);
  if (v == "auto") return FlashKernelSpec{FlashKernel::Auto, kSm90DefaultTile};
  if (v == "fa2") return FlashKernelSpec{FlashKernel::Fa2, kSm90DefaultTile};
  if (v == "sm90") return FlashKernelSpec{FlashKernel::Sm90, kSm90DefaultTile};
  if (v.rfind("sm90:", 0) == 0) {
    const auto tile = parse_sm90_tile(std::string_view(v).substr(5));
    if (tile) return FlashKernelSpec{FlashKernel::Sm90, *tile};
  }
  return std::nullopt;
}

std::optional<Sm90TmaGeometry> sm90_tma_geometry(const AttnOperand& op, ComputeType compute, int64_t n,
                                                 int64_t heads, int64_t batch, int64_t head_dim, std::string* why) {
  auto no = [why](const std::string& msg) {
    fail(why, msg);
    return std::optional<Sm90TmaGeometry>{};
  };
  if (head_dim != kSm90HeadDim) return no("head dim " + std::to_string(head_dim) + " (the sm90 kernel has 64)");
  if (compute != ComputeType::BF16 && compute != ComputeType::F16) return no("compute type is not bf16 / f16");
  if (op.dtype != compute_dtype(compute))
    return no(std::string("operand is ") + dtype_name(op.dtype) + ", not the compute type " +
              dtype_name(compute_dtype(compute)) + " (TMA copies bytes; it cannot convert)");
  if (n < 1 || heads < 1 || batch < 1) return no("empty problem");
  constexpr uint64_t kMaxDim = uint64_t(1) << 32, kMaxStride = uint64_t(1) << 40;
  if (uint64_t(n) > kMaxDim || uint64_t(heads) > kMaxDim || uint64_t(batch) > kMaxDim)
    return no("a dim is above 2^32 elements");
  if (reinterpret_cast<uintptr_t>(op.data) % 16 != 0) return no("base address is not 16-byte aligned");

  struct Axis {
    int id;  // 0 = N, 1 = H, 2 = B
    int64_t size, stride_elems;
  };
  Axis axes[3] = {{0, n, op.sn}, {1, heads, op.sh}, {2, batch, op.sb}};
  const int64_t elem = 2;
  for (const Axis& a : axes) {
    if (a.size == 1) continue;  // its stride is never used: replaced below
    const char* name = a.id == 0 ? "N" : a.id == 1 ? "H" : "B";
    if (a.stride_elems <= 0) return no(std::string("stride of ") + name + " is not positive");
    const uint64_t bytes = uint64_t(a.stride_elems) * elem;
    if (bytes % 16 != 0)
      return no(std::string("stride of ") + name + " (" + std::to_string(a.stride_elems) +
                " elements) is not a multiple of 16 bytes");
    if (bytes >= kMaxStride) return no(std::string("stride of ") + name + " is not below 2^40 bytes");
  }
  // Dims above size 1 by increasing stride, then the size-1 dims (stable: N before H before B).
  std::stable_sort(std::begin(axes), std::end(axes), [](const Axis& a, const Axis& b) {
    const bool a1 = a.size == 1, b1 = b.size == 1;
    if (a1 != b1) return b1;  // size-1 dims last
    if (a1) return false;
    return a.stride_elems < b.stride_elems;
  });
  Sm90TmaGeometry g{};
  g.dims[0] = uint64_t(head_dim);
  uint64_t span = uint64_t(head_dim) * elem;  // bytes covered by the dims so far
  for (int i = 0; i < 3; ++i) {
    const Axis& a = axes[i];
    const uint64_t stride = a.size == 1 ? span : uint64_t(a.stride_elems) * elem;
    if (stride >= kMaxStride) return no("the tensor spans 2^40 bytes or more");
    g.dims[i + 1] = uint64_t(a.size);
    g.strides_bytes[i] = stride;
    span = std::max(span, stride * uint64_t(a.size));
    (a.id == 0 ? g.pos_n : a.id == 1 ? g.pos_h : g.pos_b) = i + 1;
  }
  return g;
}

FlashKernelChoice choose_flash_kernel(const FlashKernelSpec& requested, int cc_major, int cc_minor,
                                      const AttentionProblem& p) {
  FlashKernelChoice c;
  c.sm90_tile = requested.sm90_tile;
  if (requested.kernel != FlashKernel::Sm90) return c;  // auto = fa2 until the sm90 kernel has run
  const std::string head = "DA3_CUDA_FLASH_KERNEL=sm90: ";
  auto to_fa2 = [&](const std::string& why) {
    c.kernel = FlashKernel::Fa2;
    c.note = head + why + "; using fa2";
    return c;
  };
  if (cc_major != 9)
    return to_fa2("compute capability " + std::to_string(cc_major) + "." + std::to_string(cc_minor) +
                  " is not Hopper (9.x)");
  if (requested.sm90_tile < 0 || requested.sm90_tile >= kSm90TileCount) return to_fa2("no such tile configuration");
  if (p.head_dim != kSm90HeadDim) return to_fa2("head dim " + std::to_string(p.head_dim) + " (the sm90 kernel has 64)");
  if (p.compute != ComputeType::BF16 && p.compute != ComputeType::F16) return to_fa2("compute type is not bf16 / f16");
  if (p.mask.data) return to_fa2("a mask is set");
  const DType want = compute_dtype(p.compute);
  struct Op {
    const AttnOperand* op;
    int64_t n;
    bool* convert;
    const char* name;
  };
  const Op ops[3] = {{&p.q, p.nq, &c.convert_q, "q"}, {&p.k, p.nk, &c.convert_k, "k"}, {&p.v, p.nk, &c.convert_v, "v"}};
  for (const Op& o : ops) {
    if (o.op->dtype != want) {
      *o.convert = true;  // a contiguous copy in the compute type is always describable
      continue;
    }
    std::string why;
    if (!sm90_tma_geometry(*o.op, p.compute, o.n, p.heads, p.batch, p.head_dim, &why))
      return to_fa2(std::string(o.name) + ": " + why);
  }
  c.kernel = FlashKernel::Sm90;
  return c;
}

}  // namespace da3::kernels::cuda
