// `da3 colmap DIR`: a COLMAP dataset (DIR/images + the sparse model in DIR/sparse) in, its
// cameras used as the input poses (pose-conditioned depth, as the official `da3 colmap`), the
// exports out in the poses' frame and scale.
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_colmap_command(CLI::App&).
#include <memory>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/pipeline.hpp"
#include "da3_commands.hpp"
#include "pipeline/colmap_dataset.hpp"
#include "scene_commands.hpp"
#include "scene_runner.hpp"

namespace da3::cli {

void add_colmap_options(CLI::App* cmd, ColmapArgs& a) {
  cmd->add_option("--sparse-subdir", a.sparse_subdir,
                  "Model folder under DIR/sparse (e.g. 0 for sparse/0); default: sparse/, else sparse/0");
}

Action add_colmap_command(CLI::App& app) {
  auto o = std::make_shared<ColmapArgs>();
  auto* cmd = app.add_subcommand("colmap", "Pose-conditioned depth on a COLMAP dataset: DIR/images + the sparse model "
                                           "in DIR/sparse (binary or text), its cameras as input poses");
  cmd->add_option("dir", o->dir, "COLMAP dataset folder with images/ and sparse/")->required();
  add_colmap_options(cmd, *o);
  add_scene_options(cmd, o->scene);
  return [o] { return run_colmap(*o); };
}

int run_colmap(const ColmapArgs& a) {
  const ColmapArgs* o = &a;
  SceneRunner runner(o->scene, "colmap");
  const ColmapDataset d = load_colmap_dataset(o->dir, o->sparse_subdir);
  if (!d.missing.empty())
    log_warn(std::to_string(d.missing.size()) + " registered image(s) not in " + o->dir + "/images (skipped), e.g. " +
             d.missing[0]);
  for (const std::string& m : d.distorted)
    log_warn("COLMAP camera model " + m + ": its distortion is ignored (the network takes a pinhole camera)");
  runner.progress().stage("reading " + std::to_string(d.image_paths.size()) + " images");
  const PreprocessedBatch batch = preprocess(d.image_paths, runner.preprocess_options(), d.cameras);
  // The intrinsics are in pixels of the images COLMAP saw: images resized since would get
  // wrong cameras without a word.
  for (size_t i = 0; i < batch.views.size(); ++i)
    if (uint64_t(batch.views[i].orig_width) != d.sizes[i].first || uint64_t(batch.views[i].orig_height) != d.sizes[i].second)
      throw Error("'" + d.image_paths[i] + "' is " + std::to_string(batch.views[i].orig_width) + "x" +
                  std::to_string(batch.views[i].orig_height) + " but its COLMAP camera is " +
                  std::to_string(d.sizes[i].first) + "x" + std::to_string(d.sizes[i].second) +
                  ": the model's intrinsics do not fit these images");
  runner.run(batch, o->scene.out);
  runner.finish();
  return 0;
}

}  // namespace da3::cli
