// da3::Model: the public face of the model layer.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <variant>

#include "core/finite.hpp"
#include "da3/checkpoint.hpp"
#include "da3/cpu.hpp"
#include "da3/cuda.hpp"
#include "da3/log.hpp"
#include "da3/model.hpp"
#include "da3/threads.hpp"
#include "model/da3.hpp"

namespace da3 {

struct Model::Impl {
  Checkpoint ckpt;
  ModelConfig cfg;
  ModelOptions opts;
  std::unique_ptr<model::DepthAnything3Net> net;
  std::unique_ptr<model::NestedDepthAnything3Net> nested;
  // The latest forward's stage times. forward() is const and may run on several threads at
  // once: each call times itself in a local StageTimes and stores it here under the lock.
  mutable std::mutex times_mu;
  mutable StageTimes times;
  // The first forward packs what it reads from the checkpoint and drops those pages, but the
  // kernel's fault-around maps up to 16 pages around every fault (7 MB on DA3-SMALL): dropped
  // once more after it. The small tensors read on every forward are owned copies (Weights::get),
  // so the pages stay out.
  mutable std::once_flag pages_after_first_forward;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

namespace {
// bf16 runs where the hardware has bf16 arithmetic; elsewhere oneDNN would emulate it slower
// than fp32, so it is refused with what the CPU lacks.
void check_precision_supported(const ModelOptions& o) {
  if (o.precision == Precision::F32) return;
  DA3_CHECK(o.device == Device::CPU,
            "bf16 model precision is implemented on the CPU only so far (CUDA bf16: issue 15); use fp32 on cuda");
  const CpuFeatures& f = cpu_features();
  DA3_CHECK(f.bf16_arithmetic(), "bf16 model precision needs a CPU with bf16 arithmetic (AVX512_BF16 or AMX-BF16); this CPU (" +
                               (f.brand.empty() ? std::string("unknown") : f.brand) + ", " + cpu_isa_name() +
                               ") has neither, so bf16 would be slower than fp32 here; use fp32 (da3 info lists "
                               "the fast precisions)");
  const Bf16Support s = cpu_bf16_support();
  if (s.mode == Bf16Mode::WeightsOnly)
    log_once(LogLevel::Warn, "bf16-weights-only",
             "--precision bf16 on this CPU: matmul weights held in bf16 (half their memory), products in fp32, "
             "about as fast as fp32 (" + s.why + ")");
}
// DA3_HEAD_BF16=1 with --precision bf16: the heads' convolutions in bf16 too (oneDNN's AMX
// kernels, 3-5 TFLOP/s at the heads' shapes against ~0.6 for our fp32 Winograd: head 28 -> 16 ms
// on DA3-SMALL), their last 1x1 layers still fp32. Not the default: the reference runs its heads
// with autocast disabled (fp32) even in bf16, and this doubles the depth error (3e-3 -> 7e-3 on
// DA3-SMALL, docs/perf.md). AMX only: elsewhere our fp32 Winograd (a quarter of the
// multiply-adds) is not beaten by AVX512_BF16's 2x, so the variable is ignored with a warning.
bool head_convs_in_bf16() {
  const char* e = std::getenv("DA3_HEAD_BF16");
  if (!e || !*e || std::strcmp(e, "0") == 0) return false;
  if (std::strcmp(e, "1") != 0) {
    log_once(LogLevel::Warn, "DA3_HEAD_BF16", "DA3_HEAD_BF16='" + std::string(e) + "' is neither 0 nor 1; the heads stay fp32");
    return false;
  }
  if (!cpu_features().amx_usable) {
    log_once(LogLevel::Warn, "DA3_HEAD_BF16",
             "DA3_HEAD_BF16=1 is ignored: bf16 head convolutions need AMX (da3 info), and without it our fp32 "
             "Winograd kernel is the faster one; the heads stay fp32");
    return false;
  }
  return true;
}
}  // namespace

std::string bf16_heads_description() {
  if (head_convs_in_bf16()) return "bf16 convolutions on AMX, last 1x1 layers fp32 (DA3_HEAD_BF16=1)";
  return std::string("fp32 products on fp16-held Winograd weights (DA3_HEAD_BF16=1: bf16 convolutions") +
         (cpu_features().amx_usable ? ", on this CPU's AMX)" : "; needs AMX, which this CPU lacks)");
}

Model Model::load(const std::string& dir, const ModelOptions& options) {
  if (options.device == Device::CUDA) cuda_set_device(options.device_index);
  check_precision_supported(options);
  if (options.threads > 0) set_num_threads(options.threads);
  auto impl = std::make_unique<Impl>();
  impl->ckpt = Checkpoint::open(dir);
  impl->opts = options;
  impl->cfg = parse_model_config(impl->ckpt.config_json(), dir + "/config.json");
  model::Weights w = model::Weights(impl->ckpt).child("model");
  if (options.precision == Precision::BF16) {
    w.set_matmul_dtype(DType::BF16);
    w.set_conv_storage_dtype(DType::F16);
    if (head_convs_in_bf16()) w.set_conv_dtype(DType::BF16);
  }
  if (impl->cfg.nested())
    impl->nested = std::make_unique<model::NestedDepthAnything3Net>(w, impl->cfg);
  else
    impl->net = std::make_unique<model::DepthAnything3Net>(w, impl->cfg.net);
  w.finish();  // strict: lists every missing / unexpected / mis-shaped tensor
  // What binding read is dropped again: matmul weights are read in place and fault back in when
  // used, convolution weights are read once more when their packs are made on first use (and
  // then dropped again), norms, tokens and embeddings fault back in as needed.
  impl->ckpt.release_resident_pages();
  log_info("loaded " + impl->cfg.model_name + " from " + dir);
  return Model(std::move(impl));
}

Prediction Model::forward(const Tensor& image, const ForwardOptions& options) const {
  DA3_CHECK(image.defined() && image.dim() == 5 && image.size(0) == 1 && image.size(2) == 3,
            "model input must be (1, N, 3, H, W), got " + image.describe());
  DA3_CHECK(image.size(1) >= 1, "model input has no views (N = 0): pass at least one image, got " + image.describe());
  // The input is normalised pixels, (level / 255 - mean) / std: an integer tensor is raw levels
  // (or a mistake) and would run as nonsense.
  DA3_CHECK(image.dtype() == DType::F32 || image.dtype() == DType::F16 || image.dtype() == DType::BF16,
            "model input must be a float tensor (f32, or f16 / bf16) of ImageNet-normalised pixels, got " +
                image.describe() + "; preprocess images with da3::preprocess");
  Tensor x = image.dtype() == DType::F32 && image.is_contiguous() ? image : image.to(DType::F32);  // read only
  // A NaN or Inf anywhere spreads through attention to every output (depth came out 1.0).
  detail::check_finite(x, "model input image " + image.describe(), "the input must be normalised pixel values");
  if (impl_->opts.device == Device::CUDA) {
    cuda_set_device(impl_->opts.device_index);  // this thread may not be the one that loaded
    x = x.to(Device::CUDA);
  }
  model::NetRequest req;
  req.strategy = model::parse_ref_view_strategy(options.ref_view_strategy);
  req.use_ray_pose = options.use_ray_pose;
  req.export_feat_layers = options.export_feat_layers;
  req.infer_gs = options.infer_gs;
  req.ransac.sample_idx = options.ransac_sample_idx;
  req.ransac.seed = options.ransac_seed;
  req.attn.backend = options.attention_backend;
  req.attn.model_backend = impl_->opts.attention_backend;
  // bf16 models run attention's products in bf16 too (flash_attn's vdpbf16ps kernel; sdpa and
  // manual, and so the camera encoder's head dims, stay fp32); softmax statistics are fp32.
  if (impl_->opts.precision == Precision::BF16) req.attn.precision = AttentionPrecision::BF16;
  const int64_t n = image.size(1);
  if (options.extrinsics.defined() || options.intrinsics.defined()) {
    DA3_CHECK(options.extrinsics.defined() && options.intrinsics.defined(),
              "pose conditioning needs both extrinsics and intrinsics");
    DA3_CHECK(options.extrinsics.shape() == (Shape{1, n, 4, 4}),
              "extrinsics must be (1, " + std::to_string(n) + ", 4, 4), got " + options.extrinsics.describe());
    DA3_CHECK(options.intrinsics.shape() == (Shape{1, n, 3, 3}),
              "intrinsics must be (1, " + std::to_string(n) + ", 3, 3), got " + options.intrinsics.describe());
    req.extrinsics = options.extrinsics.to(DType::F32);
    req.intrinsics = options.intrinsics.to(DType::F32);
    detail::check_finite(req.extrinsics, "extrinsics", "camera poses must be finite numbers");
    detail::check_finite(req.intrinsics, "intrinsics", "camera intrinsics must be finite numbers");
  }
  StageTimes times;
  auto t0 = std::chrono::steady_clock::now();
  Prediction p = impl_->nested ? impl_->nested->forward(x, req, &times) : impl_->net->forward(x, req, &times);
  const double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  times.other_ms = total - times.backbone_ms - times.head_ms - times.camera_ms;
  std::call_once(impl_->pages_after_first_forward, [this] { impl_->ckpt.release_resident_pages(); });
  const std::lock_guard<std::mutex> lock(impl_->times_mu);
  impl_->times = times;
  return p;
}

const ModelConfig& Model::config() const { return impl_->cfg; }
const std::string& Model::dir() const { return impl_->ckpt.dir(); }
size_t Model::checkpoint_bytes() const { return impl_->ckpt.total_bytes(); }
StageTimes Model::last_stage_times() const {
  const std::lock_guard<std::mutex> lock(impl_->times_mu);
  return impl_->times;
}

std::map<std::string, Tensor> Prediction::named() const {
  std::map<std::string, Tensor> m;
  auto put = [&](const char* k, const Tensor& t) {
    if (t.defined()) m[k] = t;
  };
  put("depth", depth);
  put("depth_conf", depth_conf);
  put("extrinsics", extrinsics);
  put("intrinsics", intrinsics);
  put("sky", sky);
  put("gs_means", gs_means);
  put("gs_scales", gs_scales);
  put("gs_rotations", gs_rotations);
  put("gs_harmonics", gs_harmonics);
  put("gs_opacities", gs_opacities);
  for (const auto& [name, t] : aux) m["aux." + name] = t;
  if (is_metric) m["scale_factor"] = Tensor::full({1}, scale_factor);
  return m;
}

}  // namespace da3
