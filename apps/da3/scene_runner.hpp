#pragma once
// What `da3 infer` and `da3 video` share: the model and export options, and running one
// preprocessed scene through the model into its exports. Each command only decides where its
// views come from (image files, video frames) and how they are grouped into scenes.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "da3/model.hpp"
#include "da3/pipeline.hpp"
#include "pipeline/run_manifest.hpp"
#include "progress.hpp"

namespace da3::cli {

struct SceneArgs {
  std::string model, out = "da3_out", formats = "npz", method = "upper_bound_resize";
  std::string ref_view = "saddle_balanced", backend = "auto", precision = "fp32", device = "cpu";
  int process_res = 504;
  float conf_percentile = 40.f;
  int64_t max_points = 1'000'000;
  bool ray_pose = false, quiet = false, show_cameras = true, overwrite = false, original_size = false;
  bool gaussians = false;  // run the GS head (and export gs_ply unless -f names gs_ply or splat)
  std::string export_feat;  // "3,7": backbone layers whose features to export (npz, feat_vis)
  double feat_vis_fps = 15;
};

// Adds -m, -o, -f, --process-res, --process-res-method, --ray-pose, --ref-view, --backend,
// --device, --precision, --conf-percentile, --max-points, --show-cameras / --no-cameras,
// --original-size, --export-feat, --feat-vis-fps, --overwrite and -q
// to `cmd`, bound to `args`; the official CLI's spellings (--model-dir, --export-dir,
// --export-format, --use-ray-pose) are aliases.
// "cpu", "cuda" or "cuda:N" into the model options' device and index; anything else is an error
// saying what is accepted. The help text of every --device says what runs where today.
void parse_device(const std::string& text, ModelOptions& o);
inline constexpr const char* kDeviceHelp =
    "cpu (default), cuda or cuda:N. On CUDA the ViT backbone (with its attention: flash in bf16 by default, "
    "--backend sdpa for fp32 throughout) and the camera decoder run on the GPU; the depth heads still run on "
    "the CPU (issue 15)";

inline constexpr const char* kPrecisionHelp =
    "fp32 (default) or bf16. bf16: the ViT backbone's matmuls and attention products in bf16 with f32 "
    "accumulation (matmul weights rounded once at load: half their memory); norms, softmax statistics, the "
    "depth heads (as in the reference, with their Winograd weights held in fp16; DA3_HEAD_BF16=1: their "
    "convolutions in bf16, on AMX) and the camera decoder stay fp32. CPU only, and only on CPUs with AVX512_BF16 or AMX-BF16 (da3 info says); refused elsewhere and on "
    "cuda. Where vdpbf16ps is slower than fp32 FMAs (Intel without AMX: measured at startup) bf16 keeps the "
    "weights in bf16 but computes in fp32: half the weight memory, fp32's speed";
// "fp32" / "bf16" into the model options (anything else is an error naming both).
void parse_precision(const std::string& text, ModelOptions& o);

void add_scene_options(CLI::App* cmd, SceneArgs& args);

class SceneRunner {
 public:
  // Checks every argument (formats, resize method, backend, model directory given, an output
  // folder without a previous run's files unless --overwrite) and throws da3::Error before
  // anything is read or loaded, so bad arguments fail at once. `command` names the run in the
  // output folder's manifest.
  SceneRunner(const SceneArgs& args, const std::string& command);
  ~SceneRunner();

  const PreprocessOptions& preprocess_options() const { return pre_; }

  // Runs one scene (all views of `batch`) and writes the requested exports under `out_dir`;
  // returns the paths written. The model is loaded on the first call, i.e. after the first
  // batch was preprocessed: bad inputs fail before the (slow) load.
  std::vector<std::string> run(const PreprocessedBatch& batch, const std::string& out_dir);

  // Files the command wrote itself (video frames): recorded in the manifest and the summary.
  void record(const std::vector<std::string>& written);

  // Every scene of the command ran: with --overwrite, the previous run's files that this run
  // did not rewrite are removed now (only after success), and the manifest lists this run's.
  // Then, unless -q, one summary line on stdout: views, size, scenes, time, where the files are.
  void finish();

  // The progress line (a terminal only, not with -q): the command names each scene and the
  // stages before run() (reading images, decoding frames); run() names its own.
  Progress& progress() { return progress_; }

 private:
  std::vector<ExportFormat> formats_;
  PreprocessOptions pre_;
  ModelOptions model_options_;
  ForwardOptions forward_;
  ExportOptions export_;
  std::string model_dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<RunManifest> manifest_;
  Progress progress_;
  bool quiet_ = false;
  std::string command_, out_root_, size_;
  size_t views_ = 0, scenes_ = 0;
  std::vector<std::string> top_level_;  // what the run wrote, as entries of the output folder
};

}  // namespace da3::cli
