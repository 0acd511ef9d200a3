// Hopper (sm_90a) flash-attention forward, head dim 64, bf16 / f16 operands, fp32 softmax
// statistics and accumulation, no mask. Written here from the FlashAttention-2 / -3 papers (Dao
// 2023; Shah et al. 2024) and the PTX ISA; no code from FlashAttention or CUTLASS.
//
// STATUS: compiled (CUDA 13, sm_90a; wgmma / TMA / setmaxnreg in the SASS) but NEVER RUN: it was
// written on a machine without a GPU. It runs only when asked for (DA3_CUDA_FLASH_KERNEL=sm90);
// docs/gpu.md says how a GPU session validates it and makes `auto` pick it.
//
// Shape of the kernel (FlashAttention-3's warp specialisation, without its persistent scheduler
// or inter-warpgroup ping-pong):
//   * one CTA per (kBlockM query rows, head, batch): blockIdx = (query tile, head, batch);
//   * warpgroup 0 is the producer: it gives registers back (setmaxnreg.dec) and one thread
//     issues TMA loads (cp.async.bulk.tensor) of the Q tile once and of K / V tiles of kBlockN
//     keys into a kStages-deep shared-memory ring, each stage guarded by "full" mbarriers (TMA
//     completes the expected bytes) and "empty" mbarriers (every consumer thread arrives when
//     its warpgroup's wgmma no longer reads the stage);
//   * warpgroups 1..kConsumerWGs are consumers, 64 query rows each (the M of one wgmma), with
//     more registers (setmaxnreg.inc). Per K/V tile j they compute S_j = Q·K_jᵀ (wgmma, both
//     operands from shared memory), the online softmax on the fp32 accumulator registers, and
//     O += P_j·V_j (wgmma with P from registers as the A operand, V from shared memory
//     MN-major).
//   * Overlap inside a consumer (FA3's "intra-warpgroup pipelining"): iteration j issues
//     S_j = Q·K_jᵀ and O += P_{j-1}·V_{j-1} back to back, waits for S_j only (wgmma groups
//     complete in order: wait_group 1), runs the softmax of S_j (in place, fp32) while the
//     tensor cores still work on P_{j-1}·V_{j-1}, then waits for that, packs P_j into the A
//     fragments (only now: they are P_{j-1}·V_{j-1}'s inputs) and rescales O by the new max.
//     The math is FA2's: O is rescaled after P_{j-1}·V_{j-1} was added.
//     CAVEAT (seen in the SASS, CUDA 13.0): ptxas schedules the wait for P_{j-1}·V_{j-1}
//     (WARPGROUP.DEPBAR.LE gsb0, 0x0) right after the first row-max instructions, i.e. before
//     the exponentials, whatever the source order (variants tried: softmax out of place, P
//     packed into a second buffer, two ping-pong P buffers, the mbarrier release made data-
//     dependent on the softmax; the buffer variants made ptxas serialise every wgmma instead).
//     So within one warpgroup the softmax does not overlap P·V yet; what overlaps is the other
//     consumer warpgroup(s) of the CTA (and the producer's TMA). Measure before changing this.
//   * Tail keys: the K/V tiles go through the pipeline in the order (last, 0, 1, ..., n-2), so
//     the one tile that can reach past nk is handled in the consumers' prologue (masked there);
//     the main loop has no mask code (a branch inside it, while a wgmma is in flight, makes
//     ptxas serialise the wgmmas: "C7513 Potential Performance Loss").
//   * Registers: the wgmma asm statements list their accumulators as in/out operands, but the
//     hardware writes them only by wgmma.wait_group; fence_regs() (empty volatile asm on each
//     register) pins the compiler's reads after the waits and its writes before wgmma.fence.
//
// Shared-memory layout: every tile is rows of 64 elements = 128 bytes, loaded by TMA with
// CU_TENSOR_MAP_SWIZZLE_128B (the 16-byte chunk c of row r lands at chunk c ^ (r % 8)), each
// tile at a 1024-byte-aligned address so that the swizzle pattern (8 rows × 128 bytes) starts at
// the tile; wgmma reads the same pattern through descriptors with swizzle mode "128B".
//
// Fragment layouts (PTX ISA, wgmma "Register Fragments", m64nNk16; w = warp within the
// warpgroup, g = lane / 4, t = lane % 4):
//   accumulator D (f32, N/2 regs): d[4i + 0..1] = row 16w + g,     cols 8i + 2t .. 8i + 2t + 1
//                                  d[4i + 2..3] = row 16w + g + 8, cols 8i + 2t .. 8i + 2t + 1
//   A from registers (4 × b32 = 8 halves): a0 (row g, k 2t..2t+1)  a1 (row g+8, k 2t..)
//                                          a2 (row g, k 2t+8..)    a3 (row g+8, k 2t+8..)
// so the S accumulators of keys 16kk..16kk+15 (n-blocks 2kk, 2kk+1) are, packed in pairs,
// exactly the A fragment of k-step kk of P·V: P never leaves registers (as in attention_flash.cu).
#include <cuda.h>  // CUtensorMap and cuTensorMapEncodeTiled's types only: libcuda is reached via
                   // cudaGetDriverEntryPointByVersion (the runtime is linked statically)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"
#include "kernels/cuda/attention_flash_sm90_select.hpp"
#include "kernels/cuda/wgmma_sm90.cuh"

namespace da3::kernels::cuda {

namespace sm90 {

// Everything a tile configuration decides, in one place (kSm90Tiles lists the instantiations).
template <int BlockM, int BlockN, int Stages>
struct Sm90FlashTraits {
  static constexpr int kHeadDim = 64;
  static constexpr int kBlockM = BlockM;  // query rows per CTA
  static constexpr int kBlockN = BlockN;  // keys per K / V tile (the N of the S wgmma)
  static constexpr int kStages = Stages;  // K / V tiles in flight
  static constexpr int kConsumerWGs = BlockM / 64;
  static constexpr int kThreads = 128 * (1 + kConsumerWGs);
  static constexpr int kRowBytes = kHeadDim * 2;  // one 128-byte swizzle row per token
  static constexpr int kQBytes = kBlockM * kRowBytes;
  static constexpr int kKVBytes = kBlockN * kRowBytes;
  // setmaxnreg budgets (multiples of 8 in [24, 256]); the CTA's register file is 64K registers.
  static constexpr int kProducerRegs = kConsumerWGs == 2 ? 24 : 32;
  static constexpr int kConsumerRegs = kConsumerWGs == 2 ? 240 : 160;
  // + 1024: the dynamic shared memory base is rounded up to a 1024-byte boundary in the kernel.
  static constexpr size_t kSmemBytes = 1024 + size_t(kQBytes) + 2 * size_t(kStages) * kKVBytes;

  static_assert(BlockM % 64 == 0 && kConsumerWGs >= 2 && kConsumerWGs <= 3, "kBlockM: 128 or 192");
  static_assert(BlockN % 16 == 0 && BlockN >= 16 && BlockN <= 256, "kBlockN: a multiple of 16 up to 256 (TMA box, wgmma N)");
  static_assert(Stages >= 2 && Stages <= 8, "kStages");
  static_assert(kKVBytes % 1024 == 0 && kQBytes % 1024 == 0, "tiles must keep 1024-byte alignment");
  static_assert(128 * kProducerRegs + 128 * kConsumerWGs * kConsumerRegs <= 65536, "register budget");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory per CTA");
};

struct Params {
  int nq, nk;
  float scale_log2;  // softmax scale × log2(e): the exponentials are exp2
  // TMA coordinate index (1..3) that carries N, H and B for q, k and v (Sm90TmaGeometry).
  int q_pos_n, q_pos_h, q_pos_b;
  int k_pos_n, k_pos_h, k_pos_b;
  int v_pos_n, v_pos_h, v_pos_b;
  AttnOutput out;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

// --- mbarrier (PTX ISA "Parallel Synchronization and Communication Instructions: mbarrier") ---
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
// One arrival that also raises the phase's expected transaction count by `bytes`: the phase
// completes when this arrival has happened and TMA has delivered that many bytes.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
// Waits until the phase with this parity has completed. A fresh barrier is in phase 0, and
// waiting on parity 1 returns at once (that "previous" phase counts as complete): the producer's
// first pass over the ring therefore does not wait for releases that never come.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// --- TMA (PTX ISA "cp.async.bulk.tensor"): a 4-D box of the tensor map into shared memory,
// completion counted in bytes on `bar`. Coordinates are element indices per dim (dim 0 = head
// dim); a box reaching past a dim's end is filled with zeros (FLOAT_OOB_FILL_NONE) and still
// counts its full size in bytes.
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}

// The coordinate of TMA dim `dim` (1..3) for token n, head h, batch b of an operand whose
// tensor map put N / H / B at positions pn / ph / pb.
__device__ __forceinline__ int tma_coord(int dim, int pn, int ph, int n, int h, int b) {
  return dim == pn ? n : dim == ph ? h : b;
}

// --- wgmma bookkeeping (PTX ISA "wgmma.fence / commit_group / wait_group") ---
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
// The wgmma asm statements name their accumulators as in/out operands, but the hardware writes
// them later, at wait_group. An empty volatile asm that "modifies" each register after the wait
// keeps the compiler from moving reads of the results above the wait (volatile asm statements
// keep their order).
// Before a wgmma.fence the same trick pins the ordinary instructions that wrote an operand (the
// P fragments, the rescaled O) above the fence: otherwise the compiler may sink them below it,
// into the wgmma pipeline stage, and ptxas then serialises the wgmmas (warning C7513).
__device__ __forceinline__ void fence_reg(float& r) { asm volatile("" : "+f"(r)::"memory"); }
template <int N>
__device__ __forceinline__ void fence_regs(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void fence_regs(uint32_t (&r)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(r[i][e])::"memory");
}

// --- wgmma shared-memory matrix descriptor (PTX ISA "Matrix Descriptor Format"):
//   bits  0-13  start address >> 4
//   bits 16-29  leading-dimension byte offset >> 4
//   bits 32-45  stride-dimension byte offset >> 4
//   bits 49-51  matrix base offset (0: every tile starts on a 1024-byte swizzle boundary)
//   bits 62-63  swizzle mode: 1 = 128-byte swizzle
// With the 128-byte swizzle and rows of exactly 128 bytes (64 halves):
//   K-major operands (Q as A, K as B of S = Q·Kᵀ: the reduction dim, the head dim, is
//   contiguous): one k16 step reads 32 bytes of each row, inside one swizzle row, so the
//   leading offset is unused (1 by convention) and the stride offset is the distance between
//   groups of 8 rows: 8 × 128 = 1024 bytes. Step kk of the head dim starts 32·kk bytes further
//   (the hardware applies the swizzle to the absolute address bits, so a start inside the row
//   is fine as long as the tile itself is 1024-byte aligned).
//   MN-major operand (V as B of O = P·V: the reduction dim, keys, is the row index; N = head
//   dim is contiguous): the 64 head dims are one 128-byte swizzle row, so again only one atom
//   along N (leading offset unused) and the stride offset is the distance between groups of 8
//   keys, 1024 bytes. Step kk of the keys starts 16 rows = 2048·kk bytes further.
__device__ __forceinline__ uint64_t make_desc(uint32_t smem_byte_addr) {
  constexpr uint64_t kLbo = 16 >> 4, kSbo = 1024 >> 4, kSwizzle128 = 1;
  return uint64_t((smem_byte_addr & 0x3FFFF) >> 4) | (kLbo << 16) | (kSbo << 32) | (kSwizzle128 << 62);
}

template <int R>
__device__ __forceinline__ void regs_dealloc() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(R));
}
template <int R>
__device__ __forceinline__ void regs_alloc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(R));
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));  // ex2(-inf) = +0
  return y;
}

// Online softmax of one S tile (this thread's rows g and g + 8 of its warp's 16): hides keys at
// or past nk, updates the running max m (raw score units) and this thread's share of the
// running sum l, returns the factors alpha by which the old O and l shrink, and packs
// P = exp2(S·scale_log2 - m·scale_log2) into A fragments for P·V.
// Online softmax of one S tile, in place (this thread's rows g and g + 8 of its warp's 16):
// hides keys at or past nk (kMask), updates the running max m (raw score units) and this
// thread's share of the running sum l, returns the factors alpha by which the old O and l shrink,
// and leaves P = exp2(S·scale_log2 - m·scale_log2) in s, still fp32. Packing P into the A
// fragments of P·V is a separate step (pack_p): in the main loop it must wait until the previous
// P·V wgmma, which reads those registers, has completed (FA3 orders it the same way).
// kMask: the tile may hold keys past the end (TMA filled them with zeros). Only the first
// pipeline slot ever needs it (key_tile: the partial tile is processed first), so the main loop
// has no mask code: a data-dependent branch there, while a P·V wgmma is in flight, made ptxas
// serialise the wgmmas (warning C7513), and selects on every tile would cost ALU.
template <int BN, bool kMask>
__device__ __forceinline__ void online_softmax(float (&s)[BN / 2], int key0, int nk, int t, float scale_log2, float& m_lo,
                                               float& m_hi, float& l_lo, float& l_hi, float& a_lo, float& a_hi) {
  if constexpr (kMask) {
    const int last = nk - key0 - 2 * t;  // column 8i + e of this thread is a real key iff 8i + e < last
#pragma unroll
    for (int i = 0; i < BN / 8; ++i) {
      const bool in0 = 8 * i < last, in1 = 8 * i + 1 < last;
      s[4 * i + 0] = in0 ? s[4 * i + 0] : -INFINITY;
      s[4 * i + 2] = in0 ? s[4 * i + 2] : -INFINITY;
      s[4 * i + 1] = in1 ? s[4 * i + 1] : -INFINITY;
      s[4 * i + 3] = in1 ? s[4 * i + 3] : -INFINITY;
    }
  }
  float bm_lo = -INFINITY, bm_hi = -INFINITY;
#pragma unroll
  for (int i = 0; i < BN / 8; ++i) {
    bm_lo = fmaxf(bm_lo, fmaxf(s[4 * i + 0], s[4 * i + 1]));
    bm_hi = fmaxf(bm_hi, fmaxf(s[4 * i + 2], s[4 * i + 3]));
  }
  // A row's 4 owners are lanes 4g..4g+3.
#pragma unroll
  for (int x = 1; x <= 2; x <<= 1) {
    bm_lo = fmaxf(bm_lo, __shfl_xor_sync(0xffffffffu, bm_lo, x));
    bm_hi = fmaxf(bm_hi, __shfl_xor_sync(0xffffffffu, bm_hi, x));
  }
  // Every tile holds at least one real key, so the new max is finite; the first tile's alpha is
  // exp2(-inf) = 0.
  const float mn_lo = fmaxf(m_lo, bm_lo), mn_hi = fmaxf(m_hi, bm_hi);
  a_lo = fast_exp2((m_lo - mn_lo) * scale_log2);
  a_hi = fast_exp2((m_hi - mn_hi) * scale_log2);
  m_lo = mn_lo;
  m_hi = mn_hi;
  const float off_lo = mn_lo * scale_log2, off_hi = mn_hi * scale_log2;
  float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
  for (int i = 0; i < BN / 8; ++i) {
    s[4 * i + 0] = fast_exp2(fmaf(s[4 * i + 0], scale_log2, -off_lo));
    s[4 * i + 1] = fast_exp2(fmaf(s[4 * i + 1], scale_log2, -off_lo));
    s[4 * i + 2] = fast_exp2(fmaf(s[4 * i + 2], scale_log2, -off_hi));
    s[4 * i + 3] = fast_exp2(fmaf(s[4 * i + 3], scale_log2, -off_hi));
    sum_lo += s[4 * i + 0] + s[4 * i + 1];
    sum_hi += s[4 * i + 2] + s[4 * i + 3];
  }
  l_lo = l_lo * a_lo + sum_lo;
  l_hi = l_hi * a_hi + sum_hi;
}

// P (fp32, in the S accumulator layout) -> A fragments of P·V: the S accumulators of keys
// 16kk..16kk+15 (n-blocks 2kk, 2kk+1) packed in pairs are exactly the A fragment of k-step kk.
template <class T, int BN>
__device__ __forceinline__ void pack_p(const float (&s)[BN / 2], uint32_t (&p)[BN / 16][4]) {
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk) {
    p[kk][0] = pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
    p[kk][1] = pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
    p[kk][2] = pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
    p[kk][3] = pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
  }
}

// S = Q·Kᵀ over the head dim: 4 k16 steps, 32 bytes further along each 128-byte row per step.
template <class T, int BN>
__device__ __forceinline__ void issue_qk(float (&s)[BN / 2], uint64_t q_desc, uint64_t k_desc) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wgmma_ss<T, BN>(s, q_desc + 2 * kk, k_desc + 2 * kk, kk > 0);  // +32 B = +2 in 16-B units
}

// O += P·V over the keys of one tile: BN / 16 k16 steps, 16 rows = 2048 bytes further per step.
template <class T, int BN>
__device__ __forceinline__ void issue_pv(float (&o)[32], const uint32_t (&p)[BN / 16][4], uint64_t v_desc) {
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk) wgmma_rs_tb<T, 64>(o, p[kk], v_desc + 128 * kk, 1);  // +2048 B = +128
}

#endif  // sm_90a

template <class Tr, class T>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    flash_sm90_kernel(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                      const __grid_constant__ CUtensorMap tv, const Params prm) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int S = Tr::kStages, BN = Tr::kBlockN;
  extern __shared__ unsigned char smem_raw[];
  // q_full, then per stage k_full, k_empty, v_full, v_empty.
  __shared__ __align__(8) uint64_t bars[1 + 4 * S];
  const uint32_t base = (smem_addr(smem_raw) + 1023u) & ~1023u;
  const uint32_t sq = base, sk = base + Tr::kQBytes, sv = sk + S * Tr::kKVBytes;
  const uint32_t q_full = smem_addr(&bars[0]);
  auto k_full = [&](int s) { return smem_addr(&bars[1 + s]); };
  auto k_empty = [&](int s) { return smem_addr(&bars[1 + S + s]); };
  auto v_full = [&](int s) { return smem_addr(&bars[1 + 2 * S + s]); };
  auto v_empty = [&](int s) { return smem_addr(&bars[1 + 3 * S + s]); };

  const int tid = threadIdx.x, wg = tid / 128;
  const int h = blockIdx.y, b = blockIdx.z, m0 = blockIdx.x * Tr::kBlockM;
  const int n_tiles = (prm.nk + BN - 1) / BN;
  // Pipeline slot j -> key tile: the last (possibly partial) tile goes first, then 0, 1, ...
  // (softmax is order-free), so that masking happens only in the consumers' prologue.
  auto key_tile = [n_tiles](int j) { return j == 0 ? n_tiles - 1 : j - 1; };
  constexpr uint32_t kConsumerThreads = 128 * Tr::kConsumerWGs;

  if (tid == 0) {
    mbar_init(q_full, 1);
    for (int s = 0; s < S; ++s) {
      mbar_init(k_full(s), 1);
      mbar_init(v_full(s), 1);
      mbar_init(k_empty(s), kConsumerThreads);
      mbar_init(v_empty(s), kConsumerThreads);
    }
    // Make the initialised barriers visible to the async proxy (TMA's complete_tx).
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  if (wg == 0) {
    // ---------------- producer ----------------
    regs_dealloc<Tr::kProducerRegs>();
    if (tid == 0) {
      mbar_arrive_expect_tx(q_full, Tr::kQBytes);
      tma_load_4d(sq, &tq, q_full, 0, tma_coord(1, prm.q_pos_n, prm.q_pos_h, m0, h, b),
                  tma_coord(2, prm.q_pos_n, prm.q_pos_h, m0, h, b), tma_coord(3, prm.q_pos_n, prm.q_pos_h, m0, h, b));
      // Tile j of the K ring (v = false) or the V ring (v = true) into slot j % S, once the
      // consumers released that slot's previous use (parity of use j / S - 1, hence the ^ 1: a
      // slot's first use passes at once).
      auto load = [&](int j, bool v) {
        const int s = j % S, n0 = key_tile(j) * BN;
        const int pos_n = v ? prm.v_pos_n : prm.k_pos_n, pos_h = v ? prm.v_pos_h : prm.k_pos_h;
        const auto full = v ? v_full(s) : k_full(s);
        mbar_wait(v ? v_empty(s) : k_empty(s), ((j / S) & 1) ^ 1);
        mbar_arrive_expect_tx(full, Tr::kKVBytes);
        tma_load_4d((v ? sv : sk) + s * Tr::kKVBytes, v ? &tv : &tk, full, 0, tma_coord(1, pos_n, pos_h, n0, h, b),
                    tma_coord(2, pos_n, pos_h, n0, h, b), tma_coord(3, pos_n, pos_h, n0, h, b));
      };
      // K one tile ahead of V (FlashAttention-3's order): the consumers need K_{j+1} for S_{j+1}
      // before they release V_j's slot (after P_j·V_j), so issuing K_{j+1} first keeps the K ring
      // S tiles ahead instead of gating each K load on the previous V slot's release.
      load(0, false);
      for (int j = 0; j < n_tiles; ++j) {
        if (j + 1 < n_tiles) load(j + 1, false);
        load(j, true);
      }
    }
    return;
  }

  // ---------------- consumers ----------------
  regs_alloc<Tr::kConsumerRegs>();
  const int cw = wg - 1;  // this warpgroup's 64 query rows start at m0 + 64·cw
  const int lt = tid % 128, warp = lt / 32, lane = lt % 32, g = lane / 4, t = lane % 4;
  const uint64_t q_desc = make_desc(sq + cw * 64 * Tr::kRowBytes);
  auto k_desc = [&](int s) { return make_desc(sk + s * Tr::kKVBytes); };
  auto v_desc = [&](int s) { return make_desc(sv + s * Tr::kKVBytes); };

  float o[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) o[i] = 0.f;
  float sacc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) sacc[i] = 0.f;
  uint32_t pf[BN / 16][4];
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f, a_lo, a_hi;

  mbar_wait(q_full, 0);

  // Tile 0: S_0, its softmax (alpha is 0 and O is still 0: nothing to rescale).
  mbar_wait(k_full(0), 0);
  fence_regs(sacc);
  wgmma_fence();
  issue_qk<T, BN>(sacc, q_desc, k_desc(0));
  wgmma_commit();
  wgmma_wait<0>();
  fence_regs(sacc);
  mbar_arrive(k_empty(0));
  // Slot 0 holds the partial tile (if any): no wgmma is in flight here, so the branch is free.
  if (prm.nk % BN != 0)
    online_softmax<BN, true>(sacc, key_tile(0) * BN, prm.nk, t, prm.scale_log2, m_lo, m_hi, l_lo, l_hi, a_lo, a_hi);
  else
    online_softmax<BN, false>(sacc, 0, prm.nk, t, prm.scale_log2, m_lo, m_hi, l_lo, l_hi, a_lo, a_hi);
  pack_p<T, BN>(sacc, pf);

  for (int j = 1; j < n_tiles; ++j) {
    const int s = j % S, sp = (j - 1) % S;
    const uint64_t kd = k_desc(s), vd = v_desc(sp);
    mbar_wait(k_full(s), (j / S) & 1);
    mbar_wait(v_full(sp), ((j - 1) / S) & 1);
    // Every register either wgmma below reads was written by ordinary instructions before (P
    // packed, O rescaled): pin those writes above the fence. Nothing may write a wgmma's input
    // registers between its issue and its wait (ptxas would serialise: warning C7513), hence
    // the order below.
    fence_regs(sacc);
    fence_regs(o);
    fence_regs(pf);
    wgmma_fence();
    issue_qk<T, BN>(sacc, q_desc, kd);
    wgmma_commit();
    issue_pv<T, BN>(o, pf, vd);
    wgmma_commit();
    wgmma_wait<1>();  // S_j is done; P_{j-1}·V_{j-1} may still run
    fence_regs(sacc);
    mbar_arrive(k_empty(s));
    // The softmax of S_j, in place in the fp32 accumulators, meant to overlap P_{j-1}·V_{j-1}
    // (but see the CAVEAT at the top: ptxas moves the wait below above most of it).
    online_softmax<BN, false>(sacc, 0, prm.nk, t, prm.scale_log2, m_lo, m_hi, l_lo, l_hi, a_lo, a_hi);
    // Register-only work: pin it above the wait in the PTX at least.
    fence_regs(sacc);
    fence_reg(a_lo);
    fence_reg(a_hi);
    fence_reg(l_lo);
    fence_reg(l_hi);
    wgmma_wait<0>();
    fence_regs(o);
    mbar_arrive(v_empty(sp));
    // Only now may the P registers (inputs of the P·V just finished) and O be written.
    pack_p<T, BN>(sacc, pf);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      o[4 * i + 0] *= a_lo;
      o[4 * i + 1] *= a_lo;
      o[4 * i + 2] *= a_hi;
      o[4 * i + 3] *= a_hi;
    }
  }

  // The last tile's P·V.
  {
    const int sl = (n_tiles - 1) % S;
    mbar_wait(v_full(sl), ((n_tiles - 1) / S) & 1);
    fence_regs(o);
    fence_regs(pf);
    wgmma_fence();
    issue_pv<T, BN>(o, pf, v_desc(sl));
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(o);
  }

  // out = O / l, the full row sums gathered from the row's 4 owner lanes.
#pragma unroll
  for (int x = 1; x <= 2; x <<= 1) {
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, x);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, x);
  }
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int64_t i_lo = int64_t(m0) + 64 * cw + 16 * warp + g, i_hi = i_lo + 8;
  const AttnOutput& out = prm.out;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int d = 8 * i + 2 * t;
    if (i_lo < prm.nq) {
      const int64_t off = b * out.sb + i_lo * out.sn + h * out.sh + d;
      store_f32(out.data, out.dtype, off, o[4 * i + 0] * inv_lo);
      store_f32(out.data, out.dtype, off + 1, o[4 * i + 1] * inv_lo);
    }
    if (i_hi < prm.nq) {
      const int64_t off = b * out.sb + i_hi * out.sn + h * out.sh + d;
      store_f32(out.data, out.dtype, off, o[4 * i + 2] * inv_hi);
      store_f32(out.data, out.dtype, off + 1, o[4 * i + 3] * inv_hi);
    }
  }
#else
  __trap();  // built for sm_90a only (the da3_cuda_sm90 CMake target)
#endif
}

// ---------------- host side ----------------

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled from the driver, found through the runtime (libcuda is not linked: the
// runtime is static and the driver exists only on GPU machines). nullptr when unavailable.
EncodeTiledFn encode_tiled(std::string* why) {
  static std::string error;
  static const EncodeTiledFn fn = []() -> EncodeTiledFn {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !p) {
      // e can be cudaSuccess while q says why (symbol not found / driver too old): report both.
      error = std::string("cuTensorMapEncodeTiled not found in the driver (") + cudaGetErrorString(e) +
              ", query result " + std::to_string(int(q)) + ")";
      return nullptr;
    }
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  if (!fn && why) *why = error;
  return fn;
}

// The tensor map of one operand: a box of `rows` tokens × 64 head dims, 128-byte swizzle.
bool make_map(const AttnOperand& op, ComputeType compute, int64_t n, int64_t heads, int64_t batch, int rows,
              CUtensorMap* map, int pos[3], std::string* why) {
  const auto geo = sm90_tma_geometry(op, compute, n, heads, batch, 64, why);
  if (!geo) return false;
  const EncodeTiledFn encode = encode_tiled(why);
  if (!encode) return false;
  cuuint64_t dims[4], strides[3];
  cuuint32_t box[4] = {64, 1, 1, 1}, elem_strides[4] = {1, 1, 1, 1};
  for (int i = 0; i < 4; ++i) dims[i] = geo->dims[i];
  for (int i = 0; i < 3; ++i) strides[i] = geo->strides_bytes[i];
  box[geo->pos_n] = static_cast<cuuint32_t>(rows);
  const CUresult r = encode(map, compute == ComputeType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                            4, const_cast<void*>(op.data), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    if (why) *why = "cuTensorMapEncodeTiled refused the operand (CUresult " + std::to_string(int(r)) + ")";
    return false;
  }
  pos[0] = geo->pos_n;
  pos[1] = geo->pos_h;
  pos[2] = geo->pos_b;
  return true;
}

template <class Tr, class T>
bool launch(const AttentionProblem& p, cudaStream_t stream, std::string* why) {
  alignas(64) CUtensorMap tq, tk, tv;
  Params prm{};
  int pq[3], pk[3], pv[3];
  if (!make_map(p.q, p.compute, p.nq, p.heads, p.batch, Tr::kBlockM, &tq, pq, why) ||
      !make_map(p.k, p.compute, p.nk, p.heads, p.batch, Tr::kBlockN, &tk, pk, why) ||
      !make_map(p.v, p.compute, p.nk, p.heads, p.batch, Tr::kBlockN, &tv, pv, why))
    return false;
  prm.nq = static_cast<int>(p.nq);
  prm.nk = static_cast<int>(p.nk);
  prm.scale_log2 = p.scale * 1.4426950408889634f;
  prm.q_pos_n = pq[0], prm.q_pos_h = pq[1], prm.q_pos_b = pq[2];
  prm.k_pos_n = pk[0], prm.k_pos_h = pk[1], prm.k_pos_b = pk[2];
  prm.v_pos_n = pv[0], prm.v_pos_h = pv[1], prm.v_pos_b = pv[2];
  prm.out = p.out;

  // Not cached in a function-local static: the attribute belongs to the kernel as loaded for the
  // *current device* (CUDA runtime: one CUfunction per device context), and a process may run
  // models on several GPUs (model_api.cpp sets the device per model / thread). Cached once, the
  // second device would launch without the > 48 KB opt-in and fail with cudaErrorInvalidValue.
  // The call is cheap next to the three cuTensorMapEncodeTiled calls above.
  const cudaError_t attr = cudaFuncSetAttribute(flash_sm90_kernel<Tr, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(Tr::kSmemBytes));
  if (attr != cudaSuccess) {
    if (why) *why = "cannot reserve " + std::to_string(Tr::kSmemBytes) + " bytes of shared memory: " + cudaGetErrorString(attr);
    return false;
  }
  const dim3 grid(static_cast<unsigned>((p.nq + Tr::kBlockM - 1) / Tr::kBlockM), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  flash_sm90_kernel<Tr, T><<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(tq, tk, tv, prm);
  return true;
}

template <int I>
using TraitsOf = Sm90FlashTraits<kSm90Tiles[I].block_m, kSm90Tiles[I].block_n, kSm90Tiles[I].stages>;

template <class T>
bool dispatch_tile(const AttentionProblem& p, int tile, cudaStream_t stream, std::string* why) {
  static_assert(kSm90TileCount == 4, "add the new tile to this switch");
  switch (tile) {
    case 0: return launch<TraitsOf<0>, T>(p, stream, why);
    case 1: return launch<TraitsOf<1>, T>(p, stream, why);
    case 2: return launch<TraitsOf<2>, T>(p, stream, why);
    case 3: return launch<TraitsOf<3>, T>(p, stream, why);
    default:
      if (why) *why = "no tile configuration " + std::to_string(tile);
      return false;
  }
}

}  // namespace sm90

bool attention_flash_sm90(const AttentionProblem& p, int tile, cudaStream_t stream, std::string* why) {
  if (p.batch == 0 || p.heads == 0 || p.nq == 0) return true;
  if (p.nk == 0 || p.nq > INT32_MAX || p.nk > INT32_MAX || p.heads > 65535 || p.batch > 65535) {
    if (why) *why = "sizes outside the kernel's grid / coordinate range";
    return false;
  }
  if (p.compute == ComputeType::BF16) return sm90::dispatch_tile<__nv_bfloat16>(p, tile, stream, why);
  if (p.compute == ComputeType::F16) return sm90::dispatch_tile<__half>(p, tile, stream, why);
  if (why) *why = "compute type is not bf16 / f16";
  return false;
}

}  // namespace da3::kernels::cuda
