#include "nn/dnnl_conv.hpp"

#include "core/file_pages.hpp"
#include "core/finite.hpp"

namespace da3::nn::detail {

void check_conv_weight(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, int out_axis,
                       const std::string& name) {
  DA3_CHECK(weight.defined() && weight.dim() == 4 && weight.size(2) == weight.size(3),
            name + ": weight must be " + (out_axis == 0 ? "(out, in, k, k)" : "(in, out, k, k)") + ", got " +
                weight.describe());
  DA3_CHECK(stride >= 1 && padding >= 0, name + ": stride must be >= 1 and padding >= 0");
  const int64_t out = weight.size(out_axis);
  if (bias.defined())
    DA3_CHECK(bias.dim() == 1 && bias.size(0) == out,
              name + ": bias must be (" + std::to_string(out) + ",), got " + bias.describe());
  DA3_CHECK(weight.dtype() == DType::F32 || weight.dtype() == DType::F16 || weight.dtype() == DType::BF16,
            name + ": weight must be F32, F16 or BF16, got " + weight.describe());
}

Tensor contiguous_f32(const Tensor& weight) {
  return weight.dtype() == DType::F32 && weight.is_contiguous() ? weight : weight.to(DType::F32);  // to(): a contiguous copy
}

using tag = dnnl::memory::format_tag;

DnnlConv::DnnlConv(std::string name, const Tensor& weights, const dnnl::memory::desc& user_desc, const Tensor& bias,
                   MakePd make)
    : name_(std::move(name)), weights_(weights), user_desc_(user_desc), make_(std::move(make)) {
  DA3_CHECK(static_cast<size_t>(weights_.numel()) * sizeof(float) == user_desc_.get_size(),
            name_ + ": internal: weights do not match their oneDNN description");
  if (bias.defined()) bias_ = bias.to(DType::F32);  // to() copies: the mapped file is not kept
  da3::detail::check_finite_weight(bias_, name_ + ".bias");
}

dnnl::primitive_desc DnnlConv::make_pd(int64_t n, int64_t h, int64_t w, bool accumulate, bool relu,
                                       bool pad_rows) const {
  dnnl::post_ops po;
  if (accumulate) po.append_sum(1.f);
  if (relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  try {
    return make_(n, h, w, attr, pad_rows);
  } catch (const dnnl::error& e) {
    throw Error(name_ + ": oneDNN has no kernel for input (" + std::to_string(n) + ", " + std::to_string(h) + ", " +
                std::to_string(w) + ", C): " + e.what());
  }
}

void DnnlConv::build_from_weights(const std::function<void(const Tensor&)>& build) const {
  const Tensor f32 = contiguous_f32(weights_);
  // Packing reads every weight once (on first use); checked in the same pass over the pages.
  da3::detail::check_finite_weight(f32, name_ + ".weight");
  build(f32);
  da3::detail::drop_file_pages(weights_.data(), weights_.nbytes());
}

const dnnl::memory* DnnlConv::weights_for(const dnnl::memory::desc& want) const {
  for (const auto& p : packs_)
    if (p->first == want) return &p->second;
  auto pack = std::make_unique<std::pair<dnnl::memory::desc, dnnl::memory>>(want, dnnl::memory(want, cpu_engine()));
  build_from_weights([&](const Tensor& f32) {
    dnnl::memory user(user_desc_, cpu_engine(), const_cast<void*>(f32.data()));
    dnnl::stream s(cpu_engine());
    dnnl::reorder(user, pack->second).execute(s, user, pack->second);
    s.wait();
  });
  packs_.push_back(std::move(pack));
  return &packs_.back()->second;
}

const DnnlConv::Entry& DnnlConv::entry(int64_t n, int64_t h, int64_t w, bool accumulate, bool relu,
                                       bool pad_rows) const {
  const Key key{n, h, w, accumulate, relu, pad_rows};
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  const dnnl::primitive_desc pd = make_pd(n, h, w, accumulate, relu, pad_rows);
  Entry e{dnnl::primitive(pd), pd.src_desc(), pd.dst_desc(), pd.scratchpad_desc(), weights_for(pd.weights_desc())};
  return cache_.emplace(key, std::move(e)).first->second;
}

void DnnlConv::execute(const Tensor& x, Tensor& y, const ConvEpilogue& ep, bool pad_rows) const {
  const Entry* e;
  {
    std::lock_guard<std::mutex> lk(mu_);
    e = &entry(x.size(0), x.size(1), x.size(2), ep.accumulate != nullptr, ep.relu, pad_rows);
  }
  auto& eng = cpu_engine();
  dnnl::memory src(e->src, eng, const_cast<void*>(x.data()));
  dnnl::memory dst(e->dst, eng, y.data());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, *e->weights}, {DNNL_ARG_DST, dst}};
  if (bias_.defined())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{bias_.numel()}, dnnl::memory::data_type::f32, tag::x}, eng,
                                             const_cast<void*>(bias_.data())));
  args.emplace(DNNL_ARG_SCRATCHPAD, thread_scratchpad(e->scratchpad));
  dnnl::stream s(eng);
  e->prim.execute(s, args);
  s.wait();
}

std::string DnnlConv::implementation(int64_t n, int64_t h, int64_t w) const {
  return make_pd(n, h, w, false, false, true).impl_info_str();
}

}  // namespace da3::nn::detail
