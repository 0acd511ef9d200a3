// `da3 forward`: the raw network on a preprocessed input tensor, for parity work against the
// reference. Reads `image` (1, N, 3, H, W) (and optional `extrinsics` / `intrinsics`) from a
// safetensors file, writes every prediction under the reference's names.
#include <cstdio>

#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "da3_commands.hpp"
#include "model_path.hpp"
#include "io/atomic_file.hpp"
#include "scene_runner.hpp"

namespace da3::cli {

Action add_forward_command(CLI::App& app) {
  struct Opts {
    std::string model, input, output, backend = "auto", ref_view = "saddle_balanced", device = "cpu", precision = "fp32";
    bool ray_pose = false, gaussians = false;
    std::vector<int> export_feat_layers;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("forward", "Run the raw network on a preprocessed input tensor (parity work)");
  cmd->add_option("-m,--model,--model-dir", o->model, "Model folder, its model.safetensors, or a name `da3 pull` fetched (see da3 infer --help)")->required();
  cmd->add_option("-i,--input", o->input,
                  "safetensors file with `image` (1,N,3,H,W) f32, normalised; optional `extrinsics` (1,N,4,4) "
                  "and `intrinsics` (1,N,3,3)")
      ->required();
  cmd->add_option("-o,--output", o->output, "safetensors file to write (depth, depth_conf, extrinsics, ...)")->required();
  cmd->add_option("--backend", o->backend, "Attention backend: auto, flash_attn, sdpa, manual");
  cmd->add_option("--ref-view", o->ref_view, "Reference view strategy: first, middle, saddle_balanced, saddle_sim_range");
  cmd->add_flag("--ray-pose", o->ray_pose, "Poses from the ray head instead of the camera decoder");
  cmd->add_flag("--gaussians", o->gaussians,
                "Also run the 3D Gaussian head (da3-giant, da3nested-giant-large): writes gs_means, gs_scales, "
                "gs_rotations, gs_harmonics, gs_opacities (world space, one Gaussian per pixel)");
  cmd->add_option("--device", o->device, kDeviceHelp);
  cmd->add_option("--precision", o->precision, kPrecisionHelp)->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--export-feat-layers", o->export_feat_layers,
                  "Backbone blocks (0-based, comma-separated) whose normalised patch features to write too, "
                  "as aux.feat_layer_<i> (1,N,H/14,W/14,C), like the reference's export_feat_layers")
      ->delimiter(',');
  return [o] {
    const auto backend = parse_attention_backend(o->backend);
    if (!backend) throw Error("unknown attention backend '" + o->backend + "'; use auto, flash_attn, sdpa or manual");
    ModelOptions mo;
    parse_device(o->device, mo);
    parse_precision(o->precision, mo);
    check_output_path(o->output);  // before the model runs, not after
    SafetensorsFile in = SafetensorsFile::open(o->input);
    if (!in.contains("image")) throw Error("input '" + o->input + "' has no tensor named 'image'");
    Model model = Model::load(resolve_model_dir(o->model), mo);
    ForwardOptions f;
    f.attention_backend = *backend;
    f.ref_view_strategy = o->ref_view;
    f.use_ray_pose = o->ray_pose;
    f.infer_gs = o->gaussians;
    f.export_feat_layers = o->export_feat_layers;
    if (in.contains("extrinsics")) f.extrinsics = in.tensor("extrinsics");
    if (in.contains("intrinsics")) f.intrinsics = in.tensor("intrinsics");
    const Prediction p = model.forward(in.tensor("image"), f);
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [k, v] : p.named()) out.emplace_back(k, v);
    save_safetensors(o->output, out, {{"model", model.config().model_name}});
    std::fprintf(stderr, "wrote %zu tensors to %s\n", out.size(), o->output.c_str());
    return 0;
  };
}

}  // namespace da3::cli
