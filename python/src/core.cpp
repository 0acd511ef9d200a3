// da3cpp._core: the thin nanobind layer between Python and libda3's public API
// (include/da3/model.hpp, include/da3/pipeline.hpp). It converts arguments and arrays, releases
// the GIL around every call into the library, and maps C++ errors to Python exceptions. The
// Python-facing API (names and defaults of the official depth_anything_3.api) is
// python/da3cpp/api.py; this file does no work of its own.
//
// The inference path is the CLI's (apps/da3/scene_runner.cpp, SceneRunner::run) step for step:
//   preprocess -> [normalize_input_extrinsics] -> Model::forward -> postprocess
//   -> align_to_input_cameras -> exports
// so that the same inputs give the same bytes from `da3 infer` and from DepthAnything3.inference().
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "da3/model.hpp"
#include "da3/pipeline.hpp"
#include "da3/threads.hpp"
#include "da3/version.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// ---- errors -----------------------------------------------------------------------------------
// da3::Error is the library's one exception type ("a failure a user can cause or fix"). Which
// Python type fits depends on what was being done, so each entry point classifies it:
//   FileNotFoundError  a path the caller gave does not exist (the message is the library's)
//   RuntimeError       loading a model failed otherwise (corrupt checkpoint, no GPU, ...)
//   ValueError         everything else: bad arguments, shapes, values, unreadable images
//   NotImplementedError  a model precision libda3 cannot run here
// Other C++ exceptions take nanobind's default mapping (std::bad_alloc: MemoryError, anything
// else: RuntimeError).
struct FileNotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct LoadFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct InvalidValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct NotImplemented : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool missing(const std::string& path) {
  std::error_code ec;
  return !std::filesystem::exists(path, ec);
}

// ---- arrays -----------------------------------------------------------------------------------

using Array = nb::ndarray<nb::numpy>;

// A numpy array that keeps the tensor's storage alive (no copy when contiguous).
nb::object to_numpy(const da3::Tensor& t) {
  if (!t.defined()) return nb::none();
  da3::Tensor c = t.contiguous();
  if (c.dtype() == da3::DType::F16 || c.dtype() == da3::DType::BF16) c = c.to(da3::DType::F32);
  auto* owner = new da3::Tensor(std::move(c));
  nb::capsule keep(owner, [](void* p) noexcept { delete static_cast<da3::Tensor*>(p); });
  std::vector<size_t> shape(owner->shape().begin(), owner->shape().end());
  nb::dlpack::dtype dt;
  switch (owner->dtype()) {
    case da3::DType::F32: dt = nb::dtype<float>(); break;
    case da3::DType::F64: dt = nb::dtype<double>(); break;
    case da3::DType::I64: dt = nb::dtype<int64_t>(); break;
    case da3::DType::I32: dt = nb::dtype<int32_t>(); break;
    case da3::DType::U8: dt = nb::dtype<uint8_t>(); break;
    case da3::DType::Bool: dt = nb::dtype<bool>(); break;
    default: throw std::runtime_error(std::string("da3cpp: no numpy dtype for ") + da3::dtype_name(owner->dtype()));
  }
  return Array(owner->data(), shape.size(), shape.data(), keep, nullptr, dt).cast(nb::rv_policy::reference);
}

// Float32, C-contiguous input (the Python layer converts with np.ascontiguousarray first): a view
// for the duration of the call, the caller holding the array.
using F32In = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;

da3::Tensor view_of(const F32In& a) {
  da3::Shape shape;
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(int64_t(a.shape(i)));
  return da3::Tensor::from_blob(const_cast<float*>(a.data()), shape, da3::DType::F32);
}

std::optional<da3::Tensor> opt_view(const std::optional<F32In>& a) {
  if (!a) return std::nullopt;
  return view_of(*a);
}

// ---- options ----------------------------------------------------------------------------------

da3::AttentionBackend backend_of(const std::string& name) {
  const auto b = da3::parse_attention_backend(name);
  if (!b) throw InvalidValue("unknown attention backend '" + name + "'; use auto, flash_attn, sdpa or manual");
  return *b;
}

// ---- the model --------------------------------------------------------------------------------

struct ExportRequest {
  std::string format;  // npz, mini_npz, depth_png, depth16, ply, glb, colmap
  std::string path;    // file (npz, mini_npz, ply, glb) or directory (depth_png, depth16, colmap)
};

class PyModel {
 public:
  PyModel(const std::string& dir, const std::string& device, int device_index, int threads,
          const std::string& attention_backend, const std::string& precision) {
    da3::ModelOptions o;
    if (device == "cpu")
      o.device = da3::Device::CPU;
    else if (device == "cuda")
      o.device = da3::Device::CUDA;
    else
      throw InvalidValue("device must be 'cpu' or 'cuda', got '" + device + "'");
    o.device_index = device_index;
    o.threads = threads;
    o.attention_backend = backend_of(attention_backend);
    if (precision == "fp32")
      o.precision = da3::Precision::F32;
    else if (precision == "bf16")
      o.precision = da3::Precision::BF16;
    else
      throw InvalidValue("precision must be 'fp32' or 'bf16', got '" + precision + "'");
    try {
      nb::gil_scoped_release unlocked;
      model_ = std::make_unique<da3::Model>(da3::Model::load(dir, o));
    } catch (const da3::Error& e) {
      // A precision libda3 cannot run here (not implemented, or not on this CPU / device): the
      // Python API's NotImplementedError, with libda3's reason.
      if (o.precision != da3::Precision::F32 && std::string(e.what()).find("precision") != std::string::npos)
        throw NotImplemented(e.what());
      if (missing(dir) || (missing(dir + "/model.safetensors") && missing(dir + "/model.safetensors.index.json")) ||
          missing(dir + "/config.json"))
        throw FileNotFound(e.what());
      throw LoadFailed(e.what());
    }
  }

  std::string model_name() const { return model_->config().model_name; }
  std::string dir() const { return model_->dir(); }
  size_t checkpoint_bytes() const { return model_->checkpoint_bytes(); }

  nb::dict last_stage_times() const {
    const da3::StageTimes t = model_->last_stage_times();
    nb::dict d;
    d["backbone_ms"] = t.backbone_ms;
    d["head_ms"] = t.head_ms;
    d["camera_ms"] = t.camera_ms;
    d["other_ms"] = t.other_ms;
    d["patch_embed_ms"] = t.patch_embed_ms;
    return d;
  }

  // The raw network: Model::forward, every output under the names `da3 forward` writes.
  nb::dict forward(const F32In& image, const std::optional<F32In>& extrinsics, const std::optional<F32In>& intrinsics,
                   const std::vector<int>& export_feat_layers, bool use_ray_pose, const std::string& ref_view_strategy,
                   const std::string& attention_backend, bool infer_gs) const {
    da3::ForwardOptions f;
    f.infer_gs = infer_gs;
    f.attention_backend = backend_of(attention_backend);
    f.use_ray_pose = use_ray_pose;
    f.ref_view_strategy = ref_view_strategy;
    f.export_feat_layers = export_feat_layers;
    if (auto e = opt_view(extrinsics)) f.extrinsics = *e;
    if (auto i = opt_view(intrinsics)) f.intrinsics = *i;
    const da3::Tensor x = view_of(image);
    std::map<std::string, da3::Tensor> named;
    try {
      nb::gil_scoped_release unlocked;
      named = model_->forward(x, f).named();
    } catch (const da3::Error& e) {
      throw InvalidValue(e.what());
    }
    nb::dict out;
    for (const auto& [k, v] : named) out[k.c_str()] = to_numpy(v);
    return out;
  }

  // images: each a path (str) or an (H, W, 3) uint8 array. Returns the InferenceResult's fields
  // (and the requested backbone features) as numpy arrays; writes the requested exports.
  nb::dict infer(const nb::list& images, const std::optional<F32In>& extrinsics,
                 const std::optional<F32In>& intrinsics, bool use_ray_pose, const std::string& ref_view_strategy,
                 int process_res, const std::string& process_res_method, const std::vector<int>& export_feat_layers,
                 const std::vector<ExportRequest>& exports, float conf_thresh, float conf_thresh_percentile,
                 float ensure_thresh_percentile, int64_t num_max_points, bool show_cameras, float camera_size,
                 const std::string& attention_backend, bool infer_gs) const {
    // Everything Python is read here, with the GIL held.
    std::vector<std::string> paths;
    std::vector<da3::RgbImage> pixels;
    for (size_t i = 0; i < images.size(); ++i) {
      nb::handle h = images[i];
      if (nb::isinstance<nb::str>(h)) {
        paths.push_back(nb::cast<std::string>(h));
        continue;
      }
      auto a = nb::cast<nb::ndarray<const uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>>(h);
      if (a.shape(2) != 3)
        throw InvalidValue("image " + std::to_string(i) + ": an array must be (H, W, 3) uint8 RGB, got " +
                           std::to_string(a.shape(2)) + " channels");
      da3::RgbImage img;
      img.width = int(a.shape(1));
      img.height = int(a.shape(0));
      img.rgb.assign(a.data(), a.data() + a.size());
      img.name = "image_" + std::to_string(i);
      pixels.push_back(std::move(img));
    }
    if (!paths.empty() && !pixels.empty())
      throw InvalidValue("internal: the Python layer passes either paths or arrays, not both");

    da3::PreprocessOptions pre;
    pre.process_res = process_res;
    try {
      pre.method = da3::parse_resize_method(process_res_method);
    } catch (const da3::Error& e) {
      throw InvalidValue(e.what());
    }
    da3::CameraInputs cams;
    if (auto e = opt_view(extrinsics)) cams.extrinsics = *e;
    if (auto k = opt_view(intrinsics)) cams.intrinsics = *k;
    da3::ForwardOptions f;
    f.attention_backend = backend_of(attention_backend);
    f.use_ray_pose = use_ray_pose;
    f.ref_view_strategy = ref_view_strategy;
    f.export_feat_layers = export_feat_layers;
    f.infer_gs = infer_gs;
    da3::ExportOptions xo;
    xo.conf_thresh = conf_thresh;
    xo.conf_thresh_percentile = conf_thresh_percentile;
    xo.ensure_thresh_percentile = ensure_thresh_percentile;
    xo.num_max_points = num_max_points;
    xo.show_cameras = show_cameras;
    xo.camera_size = camera_size;

    da3::InferenceResult r;
    std::map<std::string, da3::Tensor> aux;
    try {
      nb::gil_scoped_release unlocked;
      const da3::PreprocessedBatch batch = paths.empty() ? da3::preprocess(pixels, pre, cams) : da3::preprocess(paths, pre, cams);
      if (batch.extrinsics.defined()) {  // as SceneRunner::run: normalised poses in, aligned back out
        f.extrinsics = da3::normalize_input_extrinsics(batch.extrinsics);
        f.intrinsics = batch.intrinsics;
      }
      da3::Prediction p = model_->forward(batch.image, f);
      aux = std::move(p.aux);
      r = da3::postprocess(p, batch);
      da3::align_to_input_cameras(r, batch);
      for (const ExportRequest& x : exports) {
        const std::string& fmt = x.format;
        if (fmt == "npz") da3::export_npz(r, x.path);
        else if (fmt == "mini_npz") da3::export_mini_npz(r, x.path);
        else if (fmt == "depth_png") da3::export_depth_png(r, x.path);
        else if (fmt == "depth16") da3::export_depth16(r, x.path);
        else if (fmt == "ply") da3::export_ply(r, x.path, xo);
        else if (fmt == "glb") da3::export_glb(r, x.path, xo);
        else if (fmt == "colmap") da3::export_colmap(r, x.path, xo);
        else if (fmt == "gs_ply") da3::export_gs_ply(r, x.path);
        else if (fmt == "splat") da3::export_gs_splat(r, x.path);
        else if (fmt == "gs_video") da3::export_gs_video(r, x.path);
        else throw da3::Error("unknown export format '" + fmt + "'");
      }
    } catch (const da3::Error& e) {
      for (const std::string& p : paths)
        if (missing(p)) throw FileNotFound(e.what());
      throw InvalidValue(e.what());
    }

    nb::dict out;
    out["depth"] = to_numpy(r.depth);
    out["conf"] = to_numpy(r.conf);
    out["extrinsics"] = to_numpy(r.extrinsics);
    out["intrinsics"] = to_numpy(r.intrinsics);
    out["sky"] = to_numpy(r.sky);
    out["processed_images"] = to_numpy(r.processed_images);
    out["is_metric"] = r.is_metric;
    // The reference sets scale_factor exactly when it sets is_metric (nested presets).
    out["scale_factor"] = r.has_scale_factor || r.is_metric ? nb::object(nb::float_(r.scale_factor)) : nb::none();
    nb::dict feats;
    // (1, N, h, w, C) -> (N, h, w, C), as the official OutputProcessor squeezes the batch.
    for (const auto& [k, v] : aux) feats[k.c_str()] = to_numpy(v.dim() > 0 && v.size(0) == 1 ? v.squeeze(0) : v);
    out["aux"] = feats;
    if (r.gs_means.defined()) {  // the official Gaussians' fields, batch dimension kept
      nb::dict gs;
      gs["means"] = to_numpy(r.gs_means);
      gs["scales"] = to_numpy(r.gs_scales);
      gs["rotations"] = to_numpy(r.gs_rotations);
      gs["harmonics"] = to_numpy(r.gs_harmonics);
      gs["opacities"] = to_numpy(r.gs_opacities);
      out["gaussians"] = gs;
    }
    nb::list sources;
    for (const auto& v : r.views) sources.append(v.source);
    out["sources"] = sources;
    return out;
  }

 private:
  std::unique_ptr<da3::Model> model_;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "da3cpp's C++ core (libda3 through nanobind). Use the da3cpp package, not this module.";

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const FileNotFound& e) {
      PyErr_SetString(PyExc_FileNotFoundError, e.what());
    } catch (const LoadFailed& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const InvalidValue& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NotImplemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const da3::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("version", [] { return std::string(da3::version()); }, "libda3's version.");
  m.def("build_info", [] { return std::string(da3::build_info()); }, "Compiler, build type, CUDA on/off, oneDNN.");
  m.def("built_with_cuda", &da3::built_with_cuda, "Whether this build has the CUDA backend.");
  m.def("flash_attn_available", [] { return da3::flash_attn_available(); },
        "True when a flash-attention kernel exists for the default device (da3::flash_attn_available).");
  m.def("attention_backend", [] { return std::string(da3::attention_backend_name(da3::attention_backend())); },
        "The backend an unmasked attention call would run now on the default device, honouring "
        "DA3_ATTENTION_BACKEND (da3::attention_backend).");
  m.def("flash_attn_cpu_isa", [] { return std::string(da3::flash_attn_cpu_isa()); });
  m.def("num_threads", &da3::num_threads, "Threads libda3 computes with (DA3_NUM_THREADS or all cores).");

  m.def(
      "load_image",
      [](const std::string& path) {
        da3::RgbImage img;
        try {
          nb::gil_scoped_release unlocked;
          img = da3::load_image(path);
        } catch (const da3::Error& e) {
          if (missing(path)) throw FileNotFound(e.what());
          throw InvalidValue(e.what());
        }
        auto* owner = new std::vector<uint8_t>(std::move(img.rgb));
        nb::capsule keep(owner, [](void* p) noexcept { delete static_cast<std::vector<uint8_t>*>(p); });
        const size_t shape[3] = {size_t(img.height), size_t(img.width), 3};
        return nb::ndarray<nb::numpy, uint8_t>(owner->data(), 3, shape, keep);
      },
      "path"_a, "An image file as (H, W, 3) uint8 RGB, decoded as inference() decodes paths (da3::load_image).");

  m.def(
      "preprocess",
      [](const std::vector<std::string>& paths, int process_res, const std::string& method) {
        da3::PreprocessOptions pre;
        pre.process_res = process_res;
        da3::PreprocessedBatch b;
        try {
          pre.method = da3::parse_resize_method(method);
          nb::gil_scoped_release unlocked;
          b = da3::preprocess(paths, pre);
        } catch (const da3::Error& e) {
          for (const std::string& p : paths)
            if (missing(p)) throw FileNotFound(e.what());
          throw InvalidValue(e.what());
        }
        nb::dict d;
        d["image"] = to_numpy(b.image);
        d["processed_images"] = to_numpy(b.processed_images);
        return d;
      },
      "paths"_a, "process_res"_a = 504, "process_res_method"_a = "upper_bound_resize",
      "The network input of inference() for these image files (da3::preprocess): image (1, N, 3, H, W) "
      "float32, ImageNet-normalised, and processed_images (N, H, W, 3) uint8.");

  nb::class_<ExportRequest>(m, "ExportRequest")
      .def(
          "__init__",
          [](ExportRequest* self, std::string format, std::string path) {
            new (self) ExportRequest{std::move(format), std::move(path)};
          },
          "format"_a, "path"_a)
      .def_rw("format", &ExportRequest::format)
      .def_rw("path", &ExportRequest::path);

  nb::class_<PyModel>(m, "Model")
      .def(nb::init<const std::string&, const std::string&, int, int, const std::string&, const std::string&>(),
           "dir"_a, "device"_a = "cpu", "device_index"_a = 0, "threads"_a = 0, "attention_backend"_a = "auto",
           "precision"_a = "fp32", "Loads config.json + model.safetensors from `dir` (da3::Model::load).")
      .def_prop_ro("model_name", &PyModel::model_name)
      .def_prop_ro("dir", &PyModel::dir)
      .def_prop_ro("checkpoint_bytes", &PyModel::checkpoint_bytes)
      .def("last_stage_times", &PyModel::last_stage_times)
      .def("forward", &PyModel::forward, "image"_a, "extrinsics"_a = nb::none(), "intrinsics"_a = nb::none(),
           "export_feat_layers"_a = std::vector<int>{}, "use_ray_pose"_a = false,
           "ref_view_strategy"_a = "saddle_balanced", "attention_backend"_a = "auto", "infer_gs"_a = false)
      .def("infer", &PyModel::infer, "images"_a, "extrinsics"_a = nb::none(), "intrinsics"_a = nb::none(),
           "use_ray_pose"_a = false, "ref_view_strategy"_a = "saddle_balanced", "process_res"_a = 504,
           "process_res_method"_a = "upper_bound_resize", "export_feat_layers"_a = std::vector<int>{},
           "exports"_a = std::vector<ExportRequest>{}, "conf_thresh"_a = 1.05f, "conf_thresh_percentile"_a = 40.f,
           "ensure_thresh_percentile"_a = 90.f, "num_max_points"_a = int64_t(1'000'000), "show_cameras"_a = true,
           "camera_size"_a = 0.03f, "attention_backend"_a = "auto", "infer_gs"_a = false);
}
