#include "model/da3.hpp"

#include <chrono>

#include "da3/log.hpp"
#include "model/utils/alignment.hpp"
#include "model/utils/ray_utils.hpp"
#include "model/utils/transform.hpp"

namespace da3::model {

namespace {

// The presets whose configs carry a GS head, for the error when one is asked of another model.
std::string gs_preset_list() {
  std::string names;
  for (const std::string& n : preset_names())
    if (preset_config(n).net.gs_head) names += (names.empty() ? "" : ", ") + n;
  return names;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

DepthAnything3Net::DepthAnything3Net(const Weights& w, const NetConfig& cfg)
    : cfg_(cfg), backbone_(w.child("backbone").child("pretrained"), cfg.backbone) {
  if (cfg.head.type == "DualDPT")
    dualdpt_.emplace(w.child("head"), cfg.head);
  else
    dpt_.emplace(w.child("head"), cfg.head);
  if (cfg.cam_enc) cam_enc_.emplace(w.child("cam_enc"), *cfg.cam_enc);
  if (cfg.cam_dec) cam_dec_.emplace(w.child("cam_dec"), cfg.cam_dec->dim_in);
  if (cfg.gs_head && cfg.gs_adapter) {
    gs_head_.emplace(w.child("gs_head"), *cfg.gs_head);
    gs_adapter_.emplace(*cfg.gs_adapter);
  } else if (w.has("gs_head.scratch.output_conv1.weight")) {
    // Weights of a GS head whose configuration we do not know: accepted, never run.
    w.ignore_subtree("gs_head");
    log_once(LogLevel::Info, "gs_head", "checkpoint has a Gaussian-splatting head (gs_head) but its config names none; it is not run");
  }
}

Prediction DepthAnything3Net::forward(const Tensor& x, const NetRequest& req, StageTimes* times) const {
  // Before any work: the backbone of a large model takes a while to run for nothing.
  DA3_CHECK(!req.infer_gs || gs_head_.has_value(),
            "this model has no 3D Gaussian head (gs_head); the presets with one are " + gs_preset_list());
  const int64_t H = x.size(3), W = x.size(4);
  auto t0 = std::chrono::steady_clock::now();
  Tensor cam_token;
  if (req.extrinsics.defined()) {
    DA3_CHECK(cam_enc_.has_value(), "this model (head " + cfg_.head.type +
                                        ", no camera encoder) does not take input poses; drop the extrinsics/intrinsics");
    DA3_CHECK(req.intrinsics.defined(), "pose-conditioned inference needs intrinsics together with the extrinsics");
    cam_token = cam_enc_->forward(req.extrinsics, req.intrinsics, H, W, req.attn);
  }
  const double t_cam_enc = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  // On the CPU each tapped feature goes through the head's norm and 1x1 projection as soon as the
  // backbone makes it (the same operations the head would run first): the four full-width
  // features of every view (12 MB a view for DA3-SMALL at 504x378) never coexist, a quarter of
  // that is kept. Not when the Gaussian head, which reads the features itself, runs too.
  const bool project_early = x.device() == Device::CPU && !req.infer_gs;
  std::function<Tensor(int, Tensor)> sink;
  if (project_early)
    sink = [&](int k, Tensor f) {
      return dualdpt_ ? dualdpt_->project_feature(k, std::move(f), H, W) : dpt_->project_feature(k, f, H, W);
    };
  BackboneOutput feats =
      backbone_.forward(x, cam_token, req.strategy, req.attn, req.hooks, req.export_feat_layers, sink);
  if (x.device() != Device::CPU) {
    // The DPT heads have no GPU path yet (issue 15): they run on host copies of the features.
    log_once(LogLevel::Info, "heads-on-host", "the depth heads run on the CPU (no GPU path yet); the backbone and "
                                              "camera decoder run on the GPU");
    for (Tensor& f : feats.features) f = f.to(Device::CPU);
    for (Tensor& f : feats.exported) f = f.to(Device::CPU);
  }
  const double t_backbone = ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  Prediction p;
  p.ref_view = feats.ref_view;
  // With a camera decoder the reference computes the aux (ray) branch and then discards it.
  const bool need_aux = req.use_ray_pose || !cam_dec_.has_value();
  HeadOutput h = dualdpt_ ? dualdpt_->forward(feats.features, H, W, need_aux, nullptr, project_early)
                          : dpt_->forward(feats.features, H, W, false, nullptr, project_early);
  for (size_t k = 0; k < req.export_feat_layers.size(); ++k)
  {
    const std::string name = "feat_layer_" + std::to_string(req.export_feat_layers[k]);
    p.aux[name] = feats.exported[k];
    if (feats.exported_reordered[k]) p.aux_reference_first.push_back(name);
  }
  p.depth = h.depth;
  p.depth_conf = h.depth_conf;
  p.sky = h.sky;
  const double t_head = ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  if (req.use_ray_pose) {
    DA3_CHECK(dualdpt_.has_value(), "use_ray_pose needs a model with a DualDPT (ray) head");
    pose_from_rays(h.ray, h.ray_conf, H, W, req.ransac, p.extrinsics, p.intrinsics);
  } else if (cam_dec_) {
    Tensor c2w, K;
    // The 4x4 camera maths is small and host-side: on a host copy of the decoder's 9 numbers per view.
    pose_encoding_to_extri_intri(cam_dec_->forward(feats.camera_tokens.back()).to(Device::CPU), H, W, c2w, K);
    p.extrinsics = affine_inverse(c2w);
    p.intrinsics = K;
  }
  if (req.infer_gs) {
    run_gs_head(feats.features, x.device() == Device::CPU ? x : x.to(Device::CPU), req, p);
  }
  if (p.sky.defined()) mono_sky_fill(p.depth, p.sky);
  if (times) {
    times->backbone_ms += t_backbone;
    times->patch_embed_ms += feats.patch_embed_ms;
    times->head_ms += t_head;
    times->camera_ms += t_cam_enc + ms_since(t0);
  }
  return p;
}

void DepthAnything3Net::run_gs_head(const std::vector<Tensor>& feats, const Tensor& x, const NetRequest& req,
                                    Prediction& p) const {
  // _process_gs_head: the depth is in the predicted cameras' frame, so the predicted cameras
  // place the Gaussians; given cameras only rescale them (GaussianAdapter).
  DA3_CHECK(p.extrinsics.defined() && p.intrinsics.defined(), "the Gaussian head needs predicted cameras");
  const int64_t H = x.size(3), W = x.size(4);
  GsHeadOutput raw = gs_head_->forward(feats, x, H, W);
  Gaussians g = gs_adapter_->forward(p.extrinsics, p.intrinsics, p.depth, map_pdf_to_opacity(raw.raw_gs_conf),
                                     raw.raw_gs, req.extrinsics);
  p.gs_means = g.means;
  p.gs_scales = g.scales;
  p.gs_rotations = g.rotations;
  p.gs_harmonics = g.harmonics;
  p.gs_opacities = g.opacities;
}

NestedDepthAnything3Net::NestedDepthAnything3Net(const Weights& w, const ModelConfig& cfg)
    : da3_(w.child("da3"), cfg.net), metric_(w.child("da3_metric"), *cfg.metric) {}

Prediction NestedDepthAnything3Net::forward(const Tensor& x, const NetRequest& req, StageTimes* times) const {
  Prediction out = da3_.forward(x, req, times);
  NetRequest plain;
  plain.attn = req.attn;
  Prediction metric = metric_.forward(x, plain, times);
  DA3_CHECK(metric.sky.defined(), "nested model: the metric branch has no sky output");
  out.scale_factor = nested_align(out.depth, out.depth_conf, out.extrinsics, out.intrinsics, metric.depth, metric.sky);
  out.is_metric = true;
  return out;
}

}  // namespace da3::model
