#include "nn/linear.hpp"

#include <vector>

#include "nn/dnnl_context.hpp"

namespace da3::nn {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {
// oneDNN picks a kernel, and a packed weight layout, per problem shape. Shapes differ only in M
// (rows), so primitives are cached per (M, epilogue kind) and packed weights per layout.
struct Key {
  int64_t m;
  int act;
  bool scale;
  bool accumulate;
  bool operator<(const Key& o) const {
    return std::tie(m, act, scale, accumulate) < std::tie(o.m, o.act, o.scale, o.accumulate);
  }
};
}  // namespace

struct Linear::Impl {
  Tensor weight;  // (out, in) f32, owned
  Tensor bias;    // (out,) f32 or undefined
  std::mutex mu;
  struct Entry {
    dnnl::matmul prim;
    dnnl::memory::desc wdesc;
    std::shared_ptr<dnnl::memory> packed;
  };
  std::map<Key, Entry> cache;
  std::vector<std::pair<dnnl::memory::desc, std::shared_ptr<dnnl::memory>>> packs;

  std::shared_ptr<dnnl::memory> packed_for(const dnnl::memory::desc& want) {
    for (auto& [d, m] : packs)
      if (d == want) return m;
    auto& eng = cpu_engine();
    const int64_t out = weight.size(0), in = weight.size(1);
    // PyTorch's (out, in) row-major weight is oneDNN's (K=in, N=out) in "ba" order.
    dnnl::memory user({{in, out}, dt::f32, tag::ba}, eng, weight.data());
    auto packed = std::make_shared<dnnl::memory>(want, eng);
    dnnl::stream s(eng);
    dnnl::reorder(user, *packed).execute(s, user, *packed);
    s.wait();
    packs.emplace_back(want, packed);
    return packed;
  }
};

Linear::Linear(const Tensor& weight, const Tensor& bias, std::string name) : name_(std::move(name)) {
  DA3_CHECK(weight.defined() && weight.dim() == 2, name_ + ": weight must be 2-D (out, in), got " + weight.describe());
  impl_ = std::make_shared<Impl>();
  impl_->weight = weight.to(DType::F32);
  out_ = weight.size(0);
  in_ = weight.size(1);
  if (bias.defined()) {
    DA3_CHECK(bias.dim() == 1 && bias.size(0) == out_,
              name_ + ": bias must be (" + std::to_string(out_) + ",), got " + bias.describe());
    impl_->bias = bias.to(DType::F32);
  }
}

Tensor Linear::forward(const Tensor& x, const LinearEpilogue& ep) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  DA3_CHECK(x.dtype() == DType::F32, name_ + ": input must be f32, got " + x.describe());
  DA3_CHECK(x.dim() >= 1 && x.size(-1) == in_,
            name_ + ": input's last dimension must be " + std::to_string(in_) + ", got " + x.describe());
  Tensor xc = x.contiguous();
  const int64_t m = xc.numel() / in_;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y;
  if (ep.accumulate) {
    DA3_CHECK(ep.accumulate->shape() == out_shape && ep.accumulate->is_contiguous() &&
                  ep.accumulate->dtype() == DType::F32,
              name_ + ": accumulate target must be contiguous f32 " + shape_str(out_shape) + ", got " +
                  ep.accumulate->describe());
    y = *ep.accumulate;
  } else {
    y = Tensor::empty(out_shape);
  }
  if (ep.scale)
    DA3_CHECK(ep.scale->numel() == out_ && ep.scale->dtype() == DType::F32 && ep.scale->is_contiguous(),
              name_ + ": scale must be " + std::to_string(out_) + " contiguous f32 values");
  if (m == 0) return y;

  auto& eng = cpu_engine();
  const Key key{m, static_cast<int>(ep.act), ep.scale != nullptr, ep.accumulate != nullptr};
  Impl::Entry* entry;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    auto it = impl_->cache.find(key);
    if (it == impl_->cache.end()) {
      dnnl::memory::desc src_md({m, in_}, dt::f32, tag::ab);
      dnnl::memory::desc w_md({in_, out_}, dt::f32, tag::any);
      dnnl::memory::desc dst_md({m, out_}, dt::f32, tag::ab);
      dnnl::post_ops po;
      if (ep.act == Activation::Gelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
      if (ep.act == Activation::Relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      if (ep.scale) po.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({1, out_}, dt::f32, tag::ab));
      if (ep.accumulate) po.append_sum(1.f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      dnnl::matmul::primitive_desc pd;
      if (impl_->bias.defined()) {
        dnnl::memory::desc b_md({1, out_}, dt::f32, tag::ab);
        pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, b_md, dst_md), attr, eng);
      } else {
        pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, dst_md), attr, eng);
      }
      Impl::Entry e{dnnl::matmul(pd), pd.weights_desc(), impl_->packed_for(pd.weights_desc())};
      it = impl_->cache.emplace(key, std::move(e)).first;
    }
    entry = &it->second;
  }

  dnnl::memory src({{m, in_}, dt::f32, tag::ab}, eng, xc.data());
  dnnl::memory dst({{m, out_}, dt::f32, tag::ab}, eng, y.data());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, *entry->packed}, {DNNL_ARG_DST, dst}};
  if (impl_->bias.defined())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, impl_->bias.data()));
  if (ep.scale) {
    const int idx = ep.act != Activation::None ? 1 : 0;
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1,
                 dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, const_cast<void*>(ep.scale->data())));
  }
  dnnl::stream s(eng);
  entry->prim.execute(s, args);
  s.wait();
  return y;
}

}  // namespace da3::nn
