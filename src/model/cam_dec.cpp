#include "model/cam_dec.hpp"

namespace da3::model {

CameraDec::CameraDec(const Weights& w, int64_t d) {
  mlp1_ = nn::Linear(w.get("backbone.0.weight", {d, d}), w.get("backbone.0.bias", {d}), w.prefix() + "backbone.0");
  mlp2_ = nn::Linear(w.get("backbone.2.weight", {d, d}), w.get("backbone.2.bias", {d}), w.prefix() + "backbone.2");
  fc_t_ = nn::Linear(w.get("fc_t.weight", {3, d}), w.get("fc_t.bias", {3}), w.prefix() + "fc_t");
  fc_qvec_ = nn::Linear(w.get("fc_qvec.weight", {4, d}), w.get("fc_qvec.bias", {4}), w.prefix() + "fc_qvec");
  fc_fov_ = nn::Linear(w.get("fc_fov.0.weight", {2, d}), w.get("fc_fov.0.bias", {2}), w.prefix() + "fc_fov.0");
}

Tensor CameraDec::forward(const Tensor& feat) const {
  const int64_t B = feat.size(0), S = feat.size(1);
  Tensor f = feat.contiguous().view({B * S, feat.size(2)});
  f = mlp2_.forward(mlp1_.forward(f, {nn::Activation::Relu}), {nn::Activation::Relu});
  const Tensor t = fc_t_.forward(f), q = fc_qvec_.forward(f), fov = fc_fov_.forward(f, {nn::Activation::Relu});
  // torch.cat([t, qvec, fov], dim=-1)
  Tensor out = Tensor::empty({B * S, 9}, f.dtype(), f.device());
  Tensor ot = out.slice(1, 0, 3), oq = out.slice(1, 3, 7), of = out.slice(1, 7, 9);
  ot.copy_from(t);
  oq.copy_from(q);
  of.copy_from(fov);
  return out.view({B, S, 9});
}

}  // namespace da3::model
