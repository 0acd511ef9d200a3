// FlashAttention-2-style attention on tensor cores. Written from the algorithm (Dao 2023) and the
// PTX ISA's mma fragment layouts; no code from the FlashAttention repository.
//
// One CTA = 4 warps = 64 query rows of one (batch, head); each warp owns 16 rows for the whole
// run. Per 64-key block: the CTA stages K (row-major) and Vᵀ in shared memory in the compute
// type; each warp computes its S (16×64, fp32 accumulators in registers), updates the running
// max / sum per row, turns S into P in place (the accumulator layout of S is exactly the A-operand
// layout the next mma wants, so P never leaves registers), rescales O and adds P·V.
//
// Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
//   A 16×16 (row):  reg0 (g, 2t..2t+1)  reg1 (g+8, 2t..)  reg2 (g, 2t+8..)  reg3 (g+8, 2t+8..)
//   B 16×8  (col):  reg0 (k 2t..2t+1, n g)                reg1 (k 2t+8.., n g)
//   C 16×8  (f32):  c0,c1 (g, 2t..2t+1)                    c2,c3 (g+8, 2t..2t+1)
// Each thread thus holds 2 rows (g and g+8) of every tile; a row's 4 owners are lanes 4g..4g+3,
// reduced with two xor-shuffles.
//
// NOTE: compiled here (CUDA 13, sm_75..sm_90) but developed on a machine without a GPU; the tests
// (tests/test_attention_cuda.cpp) and scripts/gpu-check.sh are what validate it on a GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "da3/error.hpp"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/attention_cuda.hpp"

namespace da3::kernels::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kBlockQ = 16 * kWarps;  // query rows per CTA
constexpr int kBlockK = 64;           // keys per block
constexpr int kPad = 8;               // halves of padding per shared-memory row: see smem_bytes

template <class T>
__device__ __forceinline__ T to_compute(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 to_compute<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half to_compute<__half>(float x) { return __float2half_rn(x); }

// c += a · b for one 16×8×16 tile.
template <class T>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  // Turing: fp16 only (the host never picks bf16 below sm_80), as two k=8 halves.
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(b0));
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[2]), "r"(a[3]), "r"(b1));
  } else {
    __trap();
  }
#else
  __trap();
#endif
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));  // ex2(-inf) = +0
  return y;
}

__device__ __forceinline__ uint32_t lds32(const void* p) { return *static_cast<const uint32_t*>(p); }

// Shared memory: Q (64 × D), K (64 × D) and Vᵀ (D × 64), each row padded by kPad halves so that
// the 8 row-groups of a fragment load fall in different banks (row stride ≡ 4 words mod 32).
template <int D>
constexpr size_t smem_bytes() {
  return sizeof(uint16_t) * (size_t(kBlockQ) * (D + kPad) + size_t(kBlockK) * (D + kPad) + size_t(D) * (kBlockK + kPad));
}

template <class T, int D>
__global__ void __launch_bounds__(32 * kWarps) flash_kernel(AttentionProblem p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + kBlockQ * (D + kPad);
  T* vt = ks + kBlockK * (D + kPad);
  constexpr int LQ = D + kPad, LK = D + kPad, LV = kBlockK + kPad;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kBlockQ;
  const float scale_log2 = p.scale * 1.4426950408889634f;

  // Stage the query block (rows past the end are zero and never stored).
  for (int idx = tid; idx < kBlockQ * D; idx += 32 * kWarps) {
    const int r = idx / D, d = idx % D;
    const int64_t i = q0 + r;
    const float x = i < p.nq ? load_f32(p.q.data, p.q.dtype, b * p.q.sb + i * p.q.sn + h * p.q.sh + d) : 0.f;
    qs[r * LQ + d] = to_compute<T>(x);
  }
  __syncthreads();

  // This warp's Q fragments, kept in registers for the whole run.
  uint32_t qf[D / 16][4];
  const T* qw = qs + warp * 16 * LQ;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    qf[kk][0] = lds32(qw + g * LQ + kk * 16 + 2 * t);
    qf[kk][1] = lds32(qw + (g + 8) * LQ + kk * 16 + 2 * t);
    qf[kk][2] = lds32(qw + g * LQ + kk * 16 + 8 + 2 * t);
    qf[kk][3] = lds32(qw + (g + 8) * LQ + kk * 16 + 8 + 2 * t);
  }

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_lo = -INFINITY, m_hi = -INFINITY;  // running max of rows g and g+8 (log2 units)
  float l_lo = 0.f, l_hi = 0.f;              // this thread's share of the running sums

  for (int64_t k0 = 0; k0 < p.nk; k0 += kBlockK) {
    __syncthreads();  // the previous block's K / Vᵀ are no longer read
    for (int idx = tid; idx < kBlockK * D; idx += 32 * kWarps) {
      const int r = idx / D, d = idx % D;
      const int64_t j = k0 + r;
      float kx = 0.f, vx = 0.f;
      if (j < p.nk) {
        kx = load_f32(p.k.data, p.k.dtype, b * p.k.sb + j * p.k.sn + h * p.k.sh + d);
        vx = load_f32(p.v.data, p.v.dtype, b * p.v.sb + j * p.v.sn + h * p.v.sh + d);
      }
      ks[r * LK + d] = to_compute<T>(kx);
      vt[d * LV + r] = to_compute<T>(vx);
    }
    __syncthreads();

    // S = Q·Kᵀ for this warp's 16 rows × 64 keys: 8 n-tiles of 8 keys.
    float s[kBlockK / 8][4];
#pragma unroll
    for (int n = 0; n < kBlockK / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      const T* kr = ks + (n * 8 + g) * LK;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) mma<T>(s[n], qf[kk], lds32(kr + kk * 16 + 2 * t), lds32(kr + kk * 16 + 8 + 2 * t));
    }

    // Scale into log2 units, hide keys past the end, and find this block's row maxima.
    float bm_lo = -INFINITY, bm_hi = -INFINITY;
#pragma unroll
    for (int n = 0; n < kBlockK / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t j = k0 + n * 8 + 2 * t + (e & 1);
        s[n][e] = j < p.nk ? s[n][e] * scale_log2 : -INFINITY;
      }
      bm_lo = fmaxf(bm_lo, fmaxf(s[n][0], s[n][1]));
      bm_hi = fmaxf(bm_hi, fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int o_ = 1; o_ <= 2; o_ <<= 1) {
      bm_lo = fmaxf(bm_lo, __shfl_xor_sync(0xffffffffu, bm_lo, o_));
      bm_hi = fmaxf(bm_hi, __shfl_xor_sync(0xffffffffu, bm_hi, o_));
    }
    const float mn_lo = fmaxf(m_lo, bm_lo), mn_hi = fmaxf(m_hi, bm_hi);
    const float a_lo = fast_exp2(m_lo - mn_lo), a_hi = fast_exp2(m_hi - mn_hi);  // 0 on the first block
    m_lo = mn_lo;
    m_hi = mn_hi;

    // P = 2^(S - m), packed straight into A fragments for P·V (two n-tiles per k-step of 16 keys).
    uint32_t pf[kBlockK / 16][4];
    float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
    for (int n = 0; n < kBlockK / 8; ++n) {
      const float p0 = fast_exp2(s[n][0] - mn_lo), p1 = fast_exp2(s[n][1] - mn_lo);
      const float p2 = fast_exp2(s[n][2] - mn_hi), p3 = fast_exp2(s[n][3] - mn_hi);
      sum_lo += p0 + p1;
      sum_hi += p2 + p3;
      pf[n / 2][(n % 2) * 2 + 0] = pack2<T>(p0, p1);
      pf[n / 2][(n % 2) * 2 + 1] = pack2<T>(p2, p3);
    }
    l_lo = l_lo * a_lo + sum_lo;
    l_hi = l_hi * a_hi + sum_hi;

    // O = O·alpha + P·V over D/8 n-tiles of head dims.
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= a_lo;
      o[n][1] *= a_lo;
      o[n][2] *= a_hi;
      o[n][3] *= a_hi;
      const T* vr = vt + (n * 8 + g) * LV;
#pragma unroll
      for (int kk = 0; kk < kBlockK / 16; ++kk) mma<T>(o[n], pf[kk], lds32(vr + kk * 16 + 2 * t), lds32(vr + kk * 16 + 8 + 2 * t));
    }
  }

  // Full row sums from the 4 owners of each row, then out = O / l.
#pragma unroll
  for (int o_ = 1; o_ <= 2; o_ <<= 1) {
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, o_);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, o_);
  }
  const float inv_lo = 1.f / l_lo, inv_hi = 1.f / l_hi;
  const int64_t i_lo = q0 + warp * 16 + g, i_hi = i_lo + 8;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int d = n * 8 + 2 * t;
    if (i_lo < p.nq) {
      const int64_t off = b * p.out.sb + i_lo * p.out.sn + h * p.out.sh + d;
      store_f32(p.out.data, p.out.dtype, off, o[n][0] * inv_lo);
      store_f32(p.out.data, p.out.dtype, off + 1, o[n][1] * inv_lo);
    }
    if (i_hi < p.nq) {
      const int64_t off = b * p.out.sb + i_hi * p.out.sn + h * p.out.sh + d;
      store_f32(p.out.data, p.out.dtype, off, o[n][2] * inv_hi);
      store_f32(p.out.data, p.out.dtype, off + 1, o[n][3] * inv_hi);
    }
  }
}

template <class T, int D>
void launch(const AttentionProblem& p, cudaStream_t stream) {
  constexpr size_t smem = smem_bytes<D>();
  // Set on every launch, not cached in a static: the attribute belongs to the kernel as loaded for
  // the current device, and a process may run models on several GPUs (model_api.cpp).
  const cudaError_t attr =
      cudaFuncSetAttribute(flash_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (attr != cudaSuccess) {
    throw Error(std::string("attention (flash_attn, cuda): cannot reserve ") + std::to_string(smem) +
                " bytes of shared memory: " + cudaGetErrorString(attr));
  }
  const dim3 grid(static_cast<unsigned>((p.nq + kBlockQ - 1) / kBlockQ), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  flash_kernel<T, D><<<grid, 32 * kWarps, smem, stream>>>(p);
}

template <class T>
void dispatch_head_dim(const AttentionProblem& p, cudaStream_t stream) {
  switch (p.head_dim) {
    case 32: launch<T, 32>(p, stream); return;
    case 64: launch<T, 64>(p, stream); return;
    case 128: launch<T, 128>(p, stream); return;
    default: throw Error("attention (flash_attn, cuda): head dim " + std::to_string(p.head_dim) + " not supported");
  }
}

}  // namespace

bool flash_head_dim_supported(int64_t head_dim) { return head_dim == 32 || head_dim == 64 || head_dim == 128; }

void attention_flash(const AttentionProblem& p, cudaStream_t stream) {
  if (p.batch == 0 || p.heads == 0 || p.nq == 0) return;
  if (p.compute == ComputeType::BF16) dispatch_head_dim<__nv_bfloat16>(p, stream);
  else dispatch_head_dim<__half>(p, stream);
}

}  // namespace da3::kernels::cuda
