#include "nn/linear.hpp"

#include <algorithm>
#include <vector>

#include "core/file_pages.hpp"
#include "core/finite.hpp"
#include "core/host_memory.hpp"
#include "da3/cpu.hpp"
#include "da3/dtype.hpp"
#include "da3/profile.hpp"
#include "nn/dnnl_context.hpp"
#include "nn/elementwise.hpp"
#include "nn/output_target.hpp"

#ifdef DA3_WITH_CUDA
#include "nn/cuda_ops.hpp"
#endif

namespace da3::nn {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {
// oneDNN builds a kernel per problem shape. Shapes differ only in M (rows), so primitives are
// cached per (M, epilogue kind).
struct Key {
  int64_t m;
  int act;
  bool scale;
  bool accumulate;
  DType out;
  bool operator<(const Key& o) const {
    return std::tie(m, act, scale, accumulate, out) < std::tie(o.m, o.act, o.scale, o.accumulate, o.out);
  }
};

dt dnnl_type(DType t) { return t == DType::BF16 ? dt::bf16 : dt::f32; }

}  // namespace

struct Linear::Impl {
  // What the CPU matmul reads, in layout wei_md. Built as (out, in) f32 — a view into the
  // memory-mapped checkpoint when it already holds contiguous f32 and nothing is folded in
  // (weight_in_place), otherwise an owned converted / scaled copy — i.e. the (K=in, N=out)
  // matrix in "ba" order. On the first CPU forward it is repacked into oneDNN's own blocked
  // layout for this matmul, once, and a mapped view's pages are dropped (so still one resident
  // copy): brgemm then skips its per-call copy of B (973x384x1536 on a Sapphire Rapids: 2.99 ->
  // 2.71 ms fp32; bf16 on Zen 4 2.6 vs 3.2 ms, docs/perf.md). A bf16 layer holds an owned bf16
  // copy (half the resident weight memory), packed the same way; `plain` only if some row
  // count cannot take that layout (never seen). Where the packed layout is plain, nothing moves.
  Tensor weight;
  dnnl::memory::desc wei_md;
  bool weight_in_place = false;
  bool packed = false;  // the first CPU forward's repacking done (or found unnecessary)
  Tensor plain;  // (out, in) in the compute dtype, unpacked again only if needed (CUDA, such an M)
  Tensor bias;  // (out,) f32 or undefined, owned
  std::mutex mu;
  struct Entry {
    dnnl::matmul prim;
    dnnl::memory::desc scratchpad;
    bool manual_epilogue = false;  // scale / accumulate applied by our loop, not post-ops
    bool plain_weights = false;    // reads `plain` (this M refused the packed layout)
  };
  std::map<Key, Entry> cache;
};

// w (out, in) contiguous f32 or bf16 into the layout oneDNN's matmul of that dtype asks for
// (queried at 1024 rows, the order of DA3's token counts; the layout depends on K and N).
void Linear::pack_weight(const Tensor& w) const {
  Impl& im = *impl_;
  const int64_t in = in_, out = out_;
  const dt t = dnnl_type(w.dtype());
  auto& eng = cpu_engine();
  const dnnl::memory::desc plain({in, out}, t, tag::ba);
  const dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(dnnl::memory::desc({1024, in}, t, tag::ab), dnnl::memory::desc({in, out}, t, tag::any),
                         dnnl::memory::desc({1024, out}, dt::f32, tag::ab)),
      eng);
  const dnnl::memory::desc packed = pd.weights_desc();
  if (packed == plain || std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
    im.weight = w;
    im.wei_md = plain;
    return;
  }
  const int64_t elem = static_cast<int64_t>(dtype_size(w.dtype()));
  const auto mem = da3::detail::allocate_host_lasting(packed.get_size());
  Tensor buf = Tensor::from_blob(mem.get(), {(static_cast<int64_t>(packed.get_size()) + elem - 1) / elem}, w.dtype(), mem);
  dnnl::memory from(plain, eng, const_cast<void*>(w.data())), to(packed, eng, buf.data());
  dnnl::stream s(eng);
  dnnl::reorder(from, to).execute(s, from, to);
  s.wait();
  im.weight = buf;
  im.wei_md = packed;
}

Linear::Linear(const Tensor& weight, const Tensor& bias, std::string name, const Tensor& fold_scale, DType precision)
    : compute_(precision), storage_(precision), name_(std::move(name)) {
  DA3_CHECK(weight.defined() && weight.dim() == 2, name_ + ": weight must be 2-D (out, in), got " + weight.describe());
  DA3_CHECK(precision == DType::F32 || precision == DType::BF16,
            name_ + ": precision must be f32 or bf16, got " + dtype_name(precision));
  // bf16 products slower than fp32 FMAs on this CPU: bf16 weights, f32 products.
  if (precision == DType::BF16 && cpu_bf16_support().mode == Bf16Mode::WeightsOnly) compute_ = DType::F32;
  impl_ = std::make_shared<Impl>();
  out_ = weight.size(0);
  in_ = weight.size(1);
  if (bias.defined()) {
    DA3_CHECK(bias.dim() == 1 && bias.size(0) == out_,
              name_ + ": bias must be (" + std::to_string(out_) + ",), got " + bias.describe());
    impl_->bias = bias.to(DType::F32);  // a copy: biases are tiny and get scaled below
    da3::detail::check_finite_weight(impl_->bias, name_ + ".bias");
  }
  const bool in_place = weight.dtype() == DType::F32 && weight.is_contiguous() && !fold_scale.defined();
  impl_->weight_in_place = in_place;
  if (in_place) {
    impl_->weight = weight;
  } else {
    // An owned contiguous f32 copy, in a mapping of its own (not the tensor arena): when the
    // first CPU forward repacks it, the plain copy is unmapped, not left faulted in among the
    // activations (that cost +8 MB of peak RSS on DA3-SMALL fp32).
    const auto mem = da3::detail::allocate_host_lasting(static_cast<size_t>(out_ * in_) * sizeof(float));
    impl_->weight = Tensor::from_blob(mem.get(), {out_, in_}, DType::F32, mem);
    impl_->weight.copy_from(weight);
  }
  if (fold_scale.defined()) {
    DA3_CHECK(fold_scale.numel() == out_, name_ + ": fold_scale must have " + std::to_string(out_) + " values");
    const Tensor g = fold_scale.to(DType::F32).contiguous();
    float* wp = impl_->weight.data_as<float>();
    const float* gp = g.data_as<float>();
    for (int64_t o = 0; o < out_; ++o)
      for (int64_t i = 0; i < in_; ++i) wp[o * in_ + i] *= gp[o];
    if (impl_->bias.defined())
      for (int64_t o = 0; o < out_; ++o) impl_->bias.data_as<float>()[o] *= gp[o];
  }
  // An owned copy was just written (converted or scaled): checked while it is in cache. A view
  // on the mapped file is not read at load, so not here either (core/finite.hpp).
  if (!in_place) {
    da3::detail::check_finite_weight(impl_->weight, name_ + ".weight");
    if (impl_->bias.defined()) da3::detail::check_finite_weight(impl_->bias, name_ + ".bias (scaled)");
  }
  // A bf16 layer rounds an owned (folded / converted) copy now, so the f32 one is freed at once;
  // a view of the checkpoint is rounded on first use (layers that never run, like the camera
  // encoder without poses, hold no copy: 13 MB in DA3-SMALL). An f32 layer is repacked on its
  // first CPU forward (never, on a model that runs it on CUDA, which uploads the plain copy).
  impl_->wei_md = dnnl::memory::desc({in_, out_}, dt::f32, tag::ba);  // until packed
  if (storage_ == DType::BF16 && !in_place) {
    pack_weight_locked();  // checked above in f32; nobody else holds the layer yet
  }
}

// A bf16-stored layer with f32 products: its f32 pack (the layout the f32 matmul reads) narrowed
// to bf16 element by element, so that widening it back per call needs no reordering.
void Linear::narrow_packed_weight() const {
  Impl& im = *impl_;
  const size_t n = im.wei_md.get_size() / sizeof(float);
  const auto mem = da3::detail::allocate_host_lasting(n * sizeof(uint16_t));
  Tensor buf = Tensor::from_blob(mem.get(), {static_cast<int64_t>(n)}, DType::BF16, mem);
  f32_to_bf16(static_cast<const float*>(im.weight.data()), static_cast<uint16_t*>(buf.data()), n);
  im.weight = buf;
}

// The bf16-stored weight widened to f32 in its packed layout, for one call (tensor arena: the
// same pages serve every layer's call).
Tensor Linear::widened_weight() const { return to_f32_parallel(impl_->weight); }

// The first CPU forward: the weight into the matmul's own layout (bf16: rounded first). A view
// of the checkpoint has its file pages dropped, never read again by the CPU path (caller holds
// impl->mu).
void Linear::pack_weight_locked() const {
  if (impl_->packed) return;
  impl_->packed = true;
  const Tensor plain = impl_->weight;
  pack_weight(compute_ == DType::BF16 ? plain.to(DType::BF16) : plain);
  if (storage_ != compute_) narrow_packed_weight();
  if (impl_->weight_in_place && impl_->weight.data() != plain.data())
    da3::detail::drop_file_pages(plain.data(), static_cast<size_t>(plain.numel()) * sizeof(float));
}

// The weight as plain (out, in) in the compute dtype: the layer's own while unpacked, else a copy
// unpacked once from the packed one — for the CUDA path (f32), or a row count whose matmul
// refuses the packed layout (caller holds impl->mu).
Tensor Linear::plain_weight_locked() const {
  const dnnl::memory::desc plain({in_, out_}, dnnl_type(compute_), tag::ba);
  const bool widen = storage_ != compute_;
  if (impl_->wei_md == plain && !widen) return impl_->weight;
  if (!impl_->plain.defined()) {
    impl_->plain = Tensor::empty({out_, in_}, compute_);
    auto& eng = cpu_engine();
    const Tensor w = widen ? widened_weight() : impl_->weight;
    dnnl::memory from(impl_->wei_md, eng, const_cast<void*>(w.data())), to(plain, eng, impl_->plain.data());
    dnnl::stream s(eng);
    dnnl::reorder(from, to).execute(s, from, to);
    s.wait();
  }
  return impl_->plain;
}

Tensor Linear::forward(const Tensor& x, const LinearEpilogue& ep) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  if (x.device() == Device::CUDA) {
    DA3_CHECK(x.dim() >= 1 && x.size(-1) == in_,
              name_ + ": input's last dimension must be " + std::to_string(in_) + ", got " + x.describe());
    if (ep.scale)
      DA3_CHECK(ep.scale->numel() == out_, name_ + ": scale must have " + std::to_string(out_) + " values");
    DA3_CHECK(compute_ == DType::F32 && ep.out == DType::F32,
              name_ + ": bf16 layers run on the CPU only (CUDA bf16 is not implemented yet)");
#ifdef DA3_WITH_CUDA
    Tensor w;
    {
      std::lock_guard<std::mutex> lk(impl_->mu);
      w = plain_weight_locked();
    }
    return cuda_ops::linear(w, impl_->bias, x, ep, name_);
#endif
  }
  const bool bf16 = compute_ == DType::BF16;
  DA3_CHECK(x.dtype() == DType::F32 || (bf16 && x.dtype() == DType::BF16),
            name_ + ": input must be f32" + std::string(bf16 ? " or bf16" : "") + ", got " + x.describe());
  DA3_CHECK(x.dim() >= 1 && x.size(-1) == in_,
            name_ + ": input's last dimension must be " + std::to_string(in_) + ", got " + x.describe());
  DA3_CHECK(ep.out == DType::F32 || (bf16 && ep.out == DType::BF16 && !ep.accumulate),
            name_ + ": a bf16 result needs a bf16 layer and no accumulate target");
  Tensor xc = x.contiguous();
  if (bf16 && xc.dtype() == DType::F32) xc = to_bf16_parallel(xc);
  const dt src_t = dnnl_type(xc.dtype()), wei_t = dnnl_type(compute_), dst_t = dnnl_type(ep.out);
  const int64_t m = xc.numel() / in_;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y = ep.out == DType::F32 ? output_or_accumulate_target(ep.accumulate, out_shape, name_)
                                  : Tensor::empty(out_shape, ep.out);
  if (ep.scale)
    DA3_CHECK(ep.scale->numel() == out_ && ep.scale->dtype() == DType::F32 && ep.scale->is_contiguous(),
              name_ + ": scale must be " + std::to_string(out_) + " contiguous f32 values");
  if (m == 0) return y;

  auto& eng = cpu_engine();
  const Key key{m, static_cast<int>(ep.act), ep.scale != nullptr, ep.accumulate != nullptr, ep.out};
  Impl::Entry* entry;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    pack_weight_locked();
    auto it = impl_->cache.find(key);
    if (it == impl_->cache.end()) {
      // oneDNN 2.6 has no optimised matmul for some post-op chains (binary_mul + sum runs its
      // reference kernel, ~100x slower: measured). Ask for the full chain, and if only "ref"
      // offers it, keep the activation in oneDNN and apply scale / accumulate in our own loop.
      auto make_pd = [&](bool with_scale_sum, bool plain_weights) {
        dnnl::memory::desc src_md({m, in_}, src_t, tag::ab);
        const dnnl::memory::desc w_md = plain_weights ? dnnl::memory::desc({in_, out_}, wei_t, tag::ba) : impl_->wei_md;
        dnnl::memory::desc dst_md({m, out_}, dst_t, tag::ab);
        dnnl::post_ops po;
        if (ep.act == Activation::Gelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
        if (ep.act == Activation::Relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        if (with_scale_sum && ep.scale)
          po.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({1, out_}, dt::f32, tag::ab));
        if (with_scale_sum && ep.accumulate) po.append_sum(1.f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(po);
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        if (impl_->bias.defined()) {
          dnnl::memory::desc b_md({1, out_}, dt::f32, tag::ab);
          return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, b_md, dst_md), attr, eng);
        }
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, dst_md), attr, eng);
      };
      // The packed bf16 layout, unless this row count's kernel refuses it (then plain weights,
      // made once from the packed ones).
      bool plain = false;
      dnnl::matmul::primitive_desc pd;
      try {
        pd = make_pd(true, false);
      } catch (const dnnl::error& e) {
        DA3_CHECK(!(impl_->wei_md == dnnl::memory::desc({in_, out_}, wei_t, tag::ba)),
                  name_ + ": oneDNN has no matmul for " + std::to_string(m) + " rows (" + e.what() + ")");
        plain = true;
        pd = make_pd(true, true);
      }
      bool manual = false;
      if ((ep.scale || ep.accumulate) && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
        pd = make_pd(false, plain);
        manual = true;
      }
      if (plain) plain_weight_locked();
      Impl::Entry e{dnnl::matmul(pd), pd.scratchpad_desc(), manual, plain};
      it = impl_->cache.emplace(key, std::move(e)).first;
    }
    entry = &it->second;
  }

  const bool manual = entry->manual_epilogue;
  DA3_CHECK(!manual || ep.out == DType::F32, name_ + ": this epilogue needs an f32 result");
  Tensor tmp = manual ? Tensor::empty(out_shape) : Tensor();
  dnnl::memory src({{m, in_}, src_t, tag::ab}, eng, xc.data());
  dnnl::memory dst({{m, out_}, dst_t, tag::ab}, eng, manual ? tmp.data() : y.data());
  const Tensor widened = storage_ != compute_ && !entry->plain_weights ? widened_weight() : Tensor();
  dnnl::memory wei = entry->plain_weights ? dnnl::memory({{in_, out_}, wei_t, tag::ba}, eng, impl_->plain.data())
                     : widened.defined()  ? dnnl::memory(impl_->wei_md, eng, const_cast<void*>(widened.data()))
                                          : dnnl::memory(impl_->wei_md, eng, impl_->weight.data());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (impl_->bias.defined())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, impl_->bias.data()));
  if (ep.scale && !manual) {
    const int idx = ep.act != Activation::None ? 1 : 0;
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1,
                 dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, const_cast<void*>(ep.scale->data())));
  }
  count_flops(static_cast<uint64_t>(2 * m * in_ * out_));
  args.emplace(DNNL_ARG_SCRATCHPAD, thread_scratchpad(entry->scratchpad));
  dnnl::stream s(eng);
  entry->prim.execute(s, args);
  s.wait();
  if (manual) {
    const float* t = tmp.data_as<float>();
    const float* g = ep.scale ? ep.scale->data_as<float>() : nullptr;
    float* o = y.data_as<float>();
    const bool acc = ep.accumulate != nullptr;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < out_; ++c) {
        const float v = g ? t[r * out_ + c] * g[c] : t[r * out_ + c];
        o[r * out_ + c] = acc ? o[r * out_ + c] + v : v;
      }
  }
  return y;
}

}  // namespace da3::nn
