#include "model/dinov2/vision_transformer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "da3/log.hpp"
#include "nn/elementwise.hpp"
#include "nn/interpolate.hpp"
#include "nn/norm.hpp"

namespace da3::model {

namespace {
constexpr int64_t kRefSelectionMinViews = 3;  // THRESH_FOR_REF_SELECTION
constexpr float kFinalNormEps = 1e-5f;        // self.norm = nn.LayerNorm(embed_dim)
}  // namespace

DinoVisionTransformer::DinoVisionTransformer(const Weights& w, const BackboneConfig& cfg) : cfg_(cfg) {
  const int64_t C = cfg.embed_dim, P = cfg.patch_size;
  const int64_t grid = cfg.img_size / P;
  patch_proj_ = nn::Linear(w.get("patch_embed.proj.weight", {C, 3, P, P}).contiguous().view({C, 3 * P * P}),
                           w.get("patch_embed.proj.bias", {C}), w.prefix() + "patch_embed.proj");
  cls_token_ = w.get("cls_token", {1, 1, C});
  if (cfg.alt_start != -1) camera_token_ = w.get("camera_token", {1, 2, C});
  pos_embed_ = w.get("pos_embed", {1, grid * grid + 1, C});
  for (int i = 0; i < cfg.depth; ++i) {
    const bool qk_norm = cfg.qknorm_start != -1 && i >= cfg.qknorm_start;
    const bool rope = cfg.rope_start != -1 && i >= cfg.rope_start;
    blocks_.emplace_back(w.child("blocks." + std::to_string(i)), C, cfg.num_heads, cfg.mlp_ratio, cfg.ffn_layer,
                         qk_norm, rope, static_cast<float>(cfg.rope_freq));
  }
  norm_w_ = w.get("norm.weight", {C});
  norm_b_ = w.get("norm.bias", {C});
}

Tensor DinoVisionTransformer::interpolate_pos_encoding(int64_t gh, int64_t gw) const {
  const int64_t C = cfg_.embed_dim;
  const int64_t n = pos_embed_.size(1) - 1;
  const int64_t m = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  if (n == gh * gw && gh == gw) return pos_embed_.contiguous();
  // (1, M*M, C) -> (1, C, M, M), bicubic with the historical 0.1 offset expressed as a scale
  // factor (torch then maps coordinates with 1/scale), back to (1, gh*gw, C).
  Tensor grid = pos_embed_.slice(1, 1, n + 1).view({1, m, m, C}).permute({0, 3, 1, 2});
  const double sy = (static_cast<double>(gh) + cfg_.interpolate_offset) / static_cast<double>(m);
  const double sx = (static_cast<double>(gw) + cfg_.interpolate_offset) / static_cast<double>(m);
  Tensor up = nn::interpolate_bicubic(grid, gh, gw, sy, sx);
  Tensor out = Tensor::empty({1, 1 + gh * gw, C});
  std::memcpy(out.data(), pos_embed_.contiguous().data(), C * 4);
  Tensor patches = out.slice(1, 1, 1 + gh * gw).view({1, gh, gw, C});
  patches.copy_from(up.permute({0, 2, 3, 1}));
  return out;
}

const Tensor& DinoVisionTransformer::pos_encoding_for(int64_t gh, int64_t gw) const {
  std::lock_guard<std::mutex> lk(pos_cache_->mu);
  auto it = pos_cache_->by_grid.find({gh, gw});
  if (it == pos_cache_->by_grid.end()) it = pos_cache_->by_grid.emplace(std::make_pair(gh, gw), interpolate_pos_encoding(gh, gw)).first;
  return it->second;  // std::map nodes stay put
}

Tensor DinoVisionTransformer::prepare_tokens(const Tensor& x) const {
  const int64_t B = x.size(0), S = x.size(1), H = x.size(3), W = x.size(4);
  const int64_t P = cfg_.patch_size, gh = H / P, gw = W / P, C = cfg_.embed_dim;
  const int64_t np = gh * gw;
  // The stride-14 patch conv as a matmul over the patches (nn::patchify), then [cls, patches] + pos.
  Tensor emb = patch_proj_.forward(nn::patchify(x.contiguous().view({B * S, 3, H, W}), P));  // (B*S, Np, C)
  Tensor tokens = Tensor::empty({B * S, 1 + np, C}, emb.dtype(), emb.device());
  Tensor patch_rows = tokens.slice(1, 1, 1 + np);
  patch_rows.copy_from(emb);
  const Tensor cls = cls_token_.view({1, C});
  for (int64_t img = 0; img < B * S; ++img) {
    Tensor row = tokens.select(0, img).slice(0, 0, 1);
    row.copy_from(cls);
  }
  nn::add_(tokens, pos_encoding_for(gh, gw).view({1 + np, C}));
  return tokens;
}

BackboneOutput DinoVisionTransformer::forward(const Tensor& x, const Tensor& cam_token, RefViewStrategy strategy,
                                              const AttentionOptions& attn, const BackboneHooks* hooks,
                                              const std::vector<int>& export_layers,
                                              const std::function<Tensor(int, Tensor)>& feature_sink) const {
  DA3_CHECK(x.dim() == 5 && x.size(2) == 3 && x.dtype() == DType::F32,
            "backbone: input must be (B, S, 3, H, W) f32, got " + x.describe());
  const int64_t B = x.size(0), S = x.size(1), H = x.size(3), W = x.size(4);
  const int64_t P = cfg_.patch_size, C = cfg_.embed_dim;
  DA3_CHECK(H % P == 0 && W % P == 0, "backbone: image size " + std::to_string(H) + "x" + std::to_string(W) +
                                          " is not a multiple of the patch size " + std::to_string(P));
  const int64_t gh = H / P, gw = W / P, N = 1 + gh * gw;
  for (int i : export_layers)
    DA3_CHECK(i >= 0 && i < cfg_.depth, "export_feat_layers: layer " + std::to_string(i) + " does not exist; the backbone has " +
                                            std::to_string(cfg_.depth) + " blocks (0.." + std::to_string(cfg_.depth - 1) + ")");
  auto tap = [&](const std::string& name, const Tensor& t) {
    if (hooks && hooks->tap) hooks->tap(name, t);
  };

  const auto t0 = std::chrono::steady_clock::now();
  Tensor cur = prepare_tokens(x).view({B, S, N, C});
  const double patch_embed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  tap("patch_embed", cur);
  // RoPE positions: per view for local attention; for global attention every view's tokens
  // concatenated, with all patches at (1, 1) ("pos_nodiff").
  Tensor pos, pos_nodiff;
  if (cfg_.rope_start != -1) {
    pos = rope_positions(gh, gw, 1, false);
    Tensor one = rope_positions(gh, gw, 1, true);
    pos_nodiff = Tensor::empty({S * N, 2}, DType::I64);
    for (int64_t s = 0; s < S; ++s) std::memcpy(pos_nodiff.data_as<int64_t>() + s * N * 2, one.data(), N * 2 * 8);
  }

  BackboneOutput out;
  out.patch_embed_ms = patch_embed_ms;
  out.exported.resize(export_layers.size());
  out.exported_reordered.assign(export_layers.size(), false);
  Tensor local = cur;
  bool reordered = false;
  for (int i = 0; i < cfg_.depth; ++i) {
    const bool rope_here = cfg_.rope_start != -1 && i >= cfg_.rope_start;
    if (cfg_.alt_start != -1 && i == cfg_.alt_start - 1 && S >= kRefSelectionMinViews && !cam_token.defined()) {
      out.ref_view = select_reference_view(cur, strategy);
      log_info(std::string("reference view (") + ref_view_strategy_name(strategy) + "): " + std::to_string(out.ref_view[0]));
      cur = reorder_by_reference(cur, out.ref_view);
      local = reorder_by_reference(local, out.ref_view);
      reordered = true;
    }
    if (cfg_.alt_start != -1 && i == cfg_.alt_start) {
      // Token 0 becomes the camera token: the user's (pose-conditioned) or the learned ones,
      // camera_token[0] for the reference view and camera_token[1] for the others. The
      // reference writes it in place, into the tensor that is also the last local output, so a
      // cat_token tap at this block sees it in the local half too: write through `local` alike.
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s) {
          const Tensor src = cam_token.defined() ? cam_token.select(0, b).select(0, s)
                                                 : camera_token_.select(0, 0).select(0, s == 0 ? 0 : 1);
          Tensor dst = cur.select(0, b).select(0, s).select(0, 0);
          dst.copy_from(src);
        }
    }
    const bool global = cfg_.alt_start != -1 && i >= cfg_.alt_start && i % 2 == 1;
    // Blocks update in place; keep `local` (the last local output) intact when it is `cur`.
    Tensor work = cur.data() == local.data() ? cur.clone() : cur.contiguous();
    if (global) {
      Tensor v = work.view({B, S * N, C});
      blocks_[i].forward(v, rope_here ? pos_nodiff : Tensor(), attn);
      cur = work;
    } else {
      Tensor v = work.view({B * S, N, C});
      blocks_[i].forward(v, rope_here ? pos : Tensor(), attn);
      cur = work;
      local = cur;
    }
    tap("block." + std::to_string(i), cur);
    for (size_t k = 0; k < export_layers.size(); ++k)
      if (export_layers[k] == i) {
        Tensor f = cur.slice(2, 1, N).clone().view({B, S, gh, gw, C});
        nn::layer_norm(f, norm_w_, norm_b_, kFinalNormEps, f);
        out.exported[k] = f;
        out.exported_reordered[k] = reordered;
      }
    if (std::find(cfg_.out_layers.begin(), cfg_.out_layers.end(), i) != cfg_.out_layers.end()) {
      // The head's inputs in the caller's view order, copied once straight from the blocks'
      // outputs (no concatenated or reordered intermediate, each the size of the features):
      // token 0 -> camera_tokens, tokens 1.. -> features; with cat_token [local | cur] per token.
      const int64_t cf = cfg_.cat_token ? 2 * C : C;
      Tensor cam = Tensor::empty({B, S, cf}, cur.dtype(), cur.device());
      Tensor feat = Tensor::empty({B, S, N - 1, cf}, cur.dtype(), cur.device());
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t from = reordered ? reordered_index(s, out.ref_view[b]) : s;
          const auto put = [&](const Tensor& x, int64_t c0) {
            const Tensor view = x.select(0, b).select(0, from);  // (N, C)
            cam.select(0, b).select(0, s).slice(0, c0, c0 + C).copy_from(view.select(0, 0));
            feat.select(0, b).select(0, s).slice(-1, c0, c0 + C).copy_from(view.slice(0, 1, N));
          };
          if (cfg_.cat_token) put(local, 0);
          put(cur, cfg_.cat_token ? C : 0);
        }
      out.camera_tokens.push_back(cam);
      // Head features: patch tokens only; with cat_token the global half is normalised.
      if (cfg_.cat_token) {
        Tensor g = feat.slice(3, C, 2 * C);
        nn::layer_norm(g, norm_w_, norm_b_, kFinalNormEps, g);
      } else {
        nn::layer_norm(feat, norm_w_, norm_b_, kFinalNormEps, feat);
      }
      out.features.push_back(feature_sink ? feature_sink(static_cast<int>(out.features.size()), std::move(feat)) : feat);
    }
  }
  return out;
}

}  // namespace da3::model
