// The sdpa backend on CPU, built from oneDNN primitives: matmul (scores), softmax, matmul
// (output). It reads q, k, v and writes the output in place through strides, so no layout costs
// a copy. Work is split over (batch, head, query block) with our own OpenMP loop; the oneDNN
// calls inside run single-threaded (oneDNN does not nest parallel regions), which suits blocks
// this small better than parallelising each GEMM.
#include "kernels/cpu/attention_sdpa.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "da3/error.hpp"

namespace da3::kernels {

namespace {

using dt = dnnl::memory::data_type;
using md = dnnl::memory::desc;

// Query rows per block: S (kBlock × Nk fp32) stays in L2 for Nk up to ~2000 (see docs/perf.md).
constexpr int64_t kBlock = 64;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// The three primitives for one block shape. Their memory descriptors carry the strides of q, k,
// v and out, so one set serves every (batch, head, block) of a call.
struct BlockPrims {
  md q_md, kt_md, s_md, v_md, o_md;
  dnnl::matmul qk, pv;
  dnnl::softmax_forward softmax;
  size_t scratchpad_bytes = 0;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float>;

std::shared_ptr<const BlockPrims> make_prims(int64_t rows, int64_t nk, int64_t D, int64_t q_ld, int64_t k_ld,
                                             int64_t v_ld, int64_t o_ld, float scale) {
  auto b = std::make_shared<BlockPrims>();
  b->q_md = md({rows, D}, dt::f32, {q_ld, 1});
  b->kt_md = md({D, nk}, dt::f32, {1, k_ld});  // kᵀ as a strided view of k
  b->s_md = md({rows, nk}, dt::f32, {nk, 1});
  b->v_md = md({nk, D}, dt::f32, {v_ld, 1});
  b->o_md = md({rows, D}, dt::f32, {o_ld, 1});
  dnnl::engine& eng = cpu_engine();

  // User scratchpads: oneDNN's own is global, and our threads run primitives concurrently.
  dnnl::primitive_attr qk_attr;
  qk_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  qk_attr.set_output_scales(0, {scale});
  dnnl::primitive_attr plain_attr;
  plain_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  const dnnl::matmul::primitive_desc qk_pd(dnnl::matmul::desc(b->q_md, b->kt_md, b->s_md), qk_attr, eng);
  const dnnl::softmax_forward::primitive_desc sm_pd(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, b->s_md, 1), plain_attr, eng);
  const dnnl::matmul::primitive_desc pv_pd(dnnl::matmul::desc(b->s_md, b->v_md, b->o_md), plain_attr, eng);
  b->qk = dnnl::matmul(qk_pd);
  b->softmax = dnnl::softmax_forward(sm_pd);
  b->pv = dnnl::matmul(pv_pd);
  b->scratchpad_bytes = std::max({qk_pd.scratchpad_desc().get_size(), sm_pd.scratchpad_desc().get_size(),
                                  pv_pd.scratchpad_desc().get_size()});
  return b;
}

// Creating a oneDNN primitive costs far more than running a small one, and a model calls
// attention with the same few shapes over and over: keep them.
std::shared_ptr<const BlockPrims> get_prims(int64_t rows, int64_t nk, int64_t D, int64_t q_ld, int64_t k_ld,
                                            int64_t v_ld, int64_t o_ld, float scale) {
  static std::mutex mu;
  static std::map<Key, std::shared_ptr<const BlockPrims>> cache;
  const Key key{rows, nk, D, q_ld, k_ld, v_ld, o_ld, scale};
  std::lock_guard<std::mutex> lk(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 256) cache.clear();  // bounded: shapes change rarely
  auto prims = make_prims(rows, nk, D, q_ld, k_ld, v_ld, o_ld, scale);
  cache.emplace(key, prims);
  return prims;
}

void add_mask(float* s, int64_t rows, int64_t nk, const AttnMask& mk, int64_t b, int64_t h, int64_t i0) {
  for (int64_t r = 0; r < rows; ++r) {
    float* srow = s + r * nk;
    const int64_t off = b * mk.sb + h * mk.sh + (i0 + r) * mk.si;
    if (mk.dtype == DType::Bool) {
      const uint8_t* mrow = static_cast<const uint8_t*>(mk.data) + off;
      const float neg_inf = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < nk; ++j) srow[j] = mrow[j] ? srow[j] : neg_inf;
    } else {
      const float* mrow = static_cast<const float*>(mk.data) + off;
      for (int64_t j = 0; j < nk; ++j) srow[j] += mrow[j];
    }
  }
}

}  // namespace

size_t attention_sdpa_cpu(const AttentionProblem& p) {
  DA3_CHECK(p.q.dtype == DType::F32 && p.k.dtype == DType::F32 && p.v.dtype == DType::F32 &&
                p.out.dtype == DType::F32,
            "attention (sdpa, cpu): q, k, v and the output must be f32 here");
  const int64_t D = p.head_dim, nk = p.nk;
  const int64_t nqb = (p.nq + kBlock - 1) / kBlock;
  const int64_t tasks = p.batch * p.heads * nqb;
  if (tasks == 0) return 0;
  if (nk == 0) throw Error("attention (sdpa, cpu): no keys (Nk = 0)");

  const int64_t full_rows = std::min(kBlock, p.nq);
  const int64_t tail_rows = p.nq % kBlock;
  std::shared_ptr<const BlockPrims> full, tail;
  try {
    full = get_prims(full_rows, nk, D, p.q.sn, p.k.sn, p.v.sn, p.out.sn, p.scale);
    tail = tail_rows && p.nq > kBlock ? get_prims(tail_rows, nk, D, p.q.sn, p.k.sn, p.v.sn, p.out.sn, p.scale)
                                      : full;
  } catch (const dnnl::error& e) {
    throw Error(std::string("attention (sdpa, cpu): oneDNN could not build the matmul/softmax primitives: ") +
                e.what());
  }

  const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(p.threads, tasks)));
  const size_t s_bytes = static_cast<size_t>(full_rows * nk) * sizeof(float);
  // Never zero: a zero-sized scratchpad descriptor is not a valid oneDNN memory.
  const size_t pad_bytes = std::max<size_t>({full->scratchpad_bytes, tail->scratchpad_bytes, 64});
  const size_t per_thread = (s_bytes + 63) / 64 * 64 + (pad_bytes + 63) / 64 * 64;
  const size_t bytes = per_thread * nthreads;
  std::unique_ptr<char, decltype(&std::free)> scratch(static_cast<char*>(std::aligned_alloc(64, bytes)), &std::free);
  if (!scratch) throw std::bad_alloc();

  dnnl::engine& eng = cpu_engine();
#pragma omp parallel num_threads(nthreads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    char* ws = scratch.get() + per_thread * t;
    float* s = reinterpret_cast<float*>(ws);
    void* pad = ws + (s_bytes + 63) / 64 * 64;
    dnnl::stream stream(eng);
    const int64_t begin = tasks * t / nt, end = tasks * (t + 1) / nt;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / nqb, qb = task % nqb;
      const int64_t b = bh / p.heads, h = bh % p.heads;
      const int64_t i0 = qb * kBlock;
      const int64_t rows = std::min(kBlock, p.nq - i0);
      const BlockPrims& pr = rows == full_rows ? *full : *tail;
      const float* qd = static_cast<const float*>(p.q.data) + b * p.q.sb + h * p.q.sh + i0 * p.q.sn;
      const float* kd = static_cast<const float*>(p.k.data) + b * p.k.sb + h * p.k.sh;
      const float* vd = static_cast<const float*>(p.v.data) + b * p.v.sb + h * p.v.sh;
      float* od = static_cast<float*>(p.out.data) + b * p.out.sb + h * p.out.sh + i0 * p.out.sn;

      dnnl::memory q_mem(pr.q_md, eng, const_cast<float*>(qd));
      dnnl::memory k_mem(pr.kt_md, eng, const_cast<float*>(kd));
      dnnl::memory s_mem(pr.s_md, eng, s);
      dnnl::memory v_mem(pr.v_md, eng, const_cast<float*>(vd));
      dnnl::memory o_mem(pr.o_md, eng, od);
      const md pad_md({static_cast<int64_t>(pad_bytes)}, dt::u8, {1});
      dnnl::memory pad_mem(pad_md, eng, pad);

      pr.qk.execute(stream, {{DNNL_ARG_SRC, q_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DST, s_mem},
                             {DNNL_ARG_SCRATCHPAD, pad_mem}});
      if (p.mask.data) add_mask(s, rows, nk, p.mask, b, h, i0);
      pr.softmax.execute(stream, {{DNNL_ARG_SRC, s_mem}, {DNNL_ARG_DST, s_mem}, {DNNL_ARG_SCRATCHPAD, pad_mem}});
      pr.pv.execute(stream, {{DNNL_ARG_SRC, s_mem}, {DNNL_ARG_WEIGHTS, v_mem}, {DNNL_ARG_DST, o_mem},
                             {DNNL_ARG_SCRATCHPAD, pad_mem}});
    }
    stream.wait();
  }
  return bytes;
}

}  // namespace da3::kernels
