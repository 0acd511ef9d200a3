#include "model/dinov2/block.hpp"

#include <algorithm>
#include <cmath>

#include "nn/activations.hpp"
#include "nn/elementwise.hpp"
#include "nn/norm.hpp"

namespace da3::model {

namespace {
// The MLP's hidden activation per slice of rows, and the fewest rows a slice has: at least a
// view's worth (973 tokens at 504x378), the M the matmuls are tuned and measured at.
constexpr int64_t kMlpHiddenBytes = int64_t(32) << 20;
constexpr int64_t kMlpMinRows = 1024;
}  // namespace

Block::Block(const Weights& w, int64_t dim, int num_heads, double mlp_ratio, const std::string& ffn_layer,
             bool qk_norm, bool rope, float rope_freq, float norm_eps, bool fold_layer_scale)
    : norm_eps_(norm_eps) {
  norm1_w_ = w.get("norm1.weight", {dim});
  norm1_b_ = w.get("norm1.bias", {dim});
  norm2_w_ = w.get("norm2.weight", {dim});
  norm2_b_ = w.get("norm2.bias", {dim});
  // LayerScale multiplies the output of attn.proj / the last FFN layer: folded into their
  // weights at load, the residual add is then the only epilogue left.
  const Tensor ls1 = w.get("ls1.gamma", {dim}), ls2 = w.get("ls2.gamma", {dim});
  if (!fold_layer_scale) {
    ls1_ = ls1.to(DType::F32);
    ls2_ = ls2.to(DType::F32);
  }
  const Tensor fold1 = fold_layer_scale ? ls1 : Tensor(), fold2 = fold_layer_scale ? ls2 : Tensor();
  attn_ = Attention(w.child("attn"), dim, num_heads, qk_norm, rope, rope_freq, fold1);
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio);
  swiglu_ = ffn_layer != "mlp";
  const Weights m = w.child("mlp");
  if (swiglu_) {
    // SwiGLUFFNFused rounds 2/3 of the hidden width up to a multiple of 8.
    const int64_t h = (static_cast<int64_t>(static_cast<double>(hidden) * 2.0 / 3.0) + 7) / 8 * 8;
    fc1_ = nn::Linear(m.get("w12.weight", {2 * h, dim}), m.get("w12.bias", {2 * h}), m.prefix() + "w12", Tensor(), m.matmul_dtype());
    fc2_ = nn::Linear(m.get("w3.weight", {dim, h}), m.get("w3.bias", {dim}), m.prefix() + "w3", fold2, m.matmul_dtype());
  } else {
    fc1_ = nn::Linear(m.get("fc1.weight", {hidden, dim}), m.get("fc1.bias", {hidden}), m.prefix() + "fc1", Tensor(), m.matmul_dtype());
    fc2_ = nn::Linear(m.get("fc2.weight", {dim, hidden}), m.get("fc2.bias", {dim}), m.prefix() + "fc2", fold2, m.matmul_dtype());
  }
}

void Block::forward(Tensor& x, const Tensor& pos, const AttentionOptions& attn) const {
  Tensor h = nn::layer_norm(x, norm1_w_, norm1_b_, norm_eps_);
  // Unfolded LayerScale: the scale epilogue (undefined ls*_ when folded: null scale).
  const Tensor* s1 = ls1_.defined() ? &ls1_ : nullptr;
  const Tensor* s2 = ls2_.defined() ? &ls2_ : nullptr;
  attn_.forward(std::move(h), pos, attn, {nn::Activation::None, s1, &x});
  h = nn::layer_norm(x, norm2_w_, norm2_b_, norm_eps_);
  // The MLP runs on slices of rows: its hidden activation (4x the width; 6 MB a view for ViT-S
  // at 504x378, 16 MB for ViT-L) is bounded by kMlpHiddenBytes however many views there are.
  // Every row's result is the same as in one call; one view (973 rows) is one slice.
  const int64_t c = x.size(-1), rows = x.numel() / c;
  const int64_t step = std::max<int64_t>(kMlpMinRows, kMlpHiddenBytes / (fc1_.out_features() * 4));
  const Tensor h2 = h.view({rows, c});
  Tensor x2 = x.view({rows, c});
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const Tensor hr = rows <= step ? h2 : h2.slice(0, r0, std::min(rows, r0 + step));
    Tensor xr = rows <= step ? x2 : x2.slice(0, r0, std::min(rows, r0 + step));
    if (swiglu_) {
      const Tensor hidden = nn::swiglu(fc1_.forward(hr));  // silu(x1) * x2
      fc2_.forward(hidden, {nn::Activation::None, s2, &xr});
    } else {
      // A bf16 fc2 takes fc1's GELU output in bf16 straight from the matmul (no f32 round trip of
      // the widest activation); an f32 one in f32.
      const Tensor hidden = fc1_.forward(hr, {nn::Activation::Gelu, nullptr, nullptr, fc2_.compute_dtype()});
      fc2_.forward(hidden, {nn::Activation::None, s2, &xr});
    }
  }
}

}  // namespace da3::model
