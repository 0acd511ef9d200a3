#include "model/dinov2/attention.hpp"

namespace da3::model {

Attention::Attention(const Weights& w, int64_t dim, int num_heads, bool qk_norm, bool rope, float rope_freq,
                     const Tensor& proj_scale)
    : num_heads_(num_heads), dim_(dim), qk_norm_(qk_norm), rope_(rope), rope_freq_(rope_freq) {
  qkv_ = nn::Linear(w.get("qkv.weight", {3 * dim, dim}), w.get("qkv.bias", {3 * dim}), w.prefix() + "qkv", Tensor(), w.matmul_dtype());
  proj_ = nn::Linear(w.get("proj.weight", {dim, dim}), w.get("proj.bias", {dim}), w.prefix() + "proj", proj_scale, w.matmul_dtype());
  if (qk_norm) {
    const int64_t hd = dim / num_heads;
    q_norm_w_ = w.get("q_norm.weight", {hd});
    q_norm_b_ = w.get("q_norm.bias", {hd});
    k_norm_w_ = w.get("k_norm.weight", {hd});
    k_norm_b_ = w.get("k_norm.bias", {hd});
  }
}

Tensor Attention::forward(const Tensor& x, const Tensor& pos, const AttentionOptions& attn,
                          const nn::LinearEpilogue& proj_epilogue) const {
  return run(x, false, pos, attn, proj_epilogue);
}

Tensor Attention::forward(Tensor&& x, const Tensor& pos, const AttentionOptions& attn,
                          const nn::LinearEpilogue& proj_epilogue) const {
  return run(std::move(x), true, pos, attn, proj_epilogue);
}

Tensor Attention::run(Tensor x, bool x_is_ours, const Tensor& pos, const AttentionOptions& attn,
                      const nn::LinearEpilogue& proj_epilogue) const {
  const int64_t b = x.size(0), n = x.size(1), hd = dim_ / num_heads_;
  // qkv(x).reshape(B, N, 3, H, D): q, k, v are strided (B, N, H, D) views of one buffer, so
  // QK-norm and RoPE run in place and attention reads them without a copy.
  Tensor qkv = qkv_.forward(x).view({b, n, 3, num_heads_, hd});
  Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  if (qk_norm_) {
    qk_layer_norm_inplace(q, q_norm_w_, q_norm_b_, 1e-5f);
    qk_layer_norm_inplace(k, k_norm_w_, k_norm_b_, 1e-5f);
  }
  if (rope_ && pos.defined()) {
    rope_2d_inplace(q, pos, AttentionLayout::BNHD, rope_freq_);
    rope_2d_inplace(k, pos, AttentionLayout::BNHD, rope_freq_);
  }
  AttentionOptions o = attn;
  o.layout = AttentionLayout::BNHD;
  // A handed-over x is dead after the qkv product: its buffer takes the attention output where
  // the dtypes agree (one (B, N, C) activation less at the block's peak); (B, N, H, D)
  // contiguous == (B, N, C).
  Tensor out;
  if (x_is_ours && x.dtype() == q.dtype() && x.is_contiguous()) {
    out = x.view({b, n, num_heads_, hd});
    attention_into(q, k, v, out, o);
  } else {
    out = attention(q, k, v, o);
  }
  x = Tensor();
  return proj_.forward(out.view({b, n, dim_}), proj_epilogue);
}

}  // namespace da3::model
