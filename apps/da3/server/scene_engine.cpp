// See scene_engine.hpp.
#include "server/scene_engine.hpp"

#include "da3/pipeline.hpp"

namespace da3::server {

SceneEngine::SceneEngine(const std::string& model_dir, const ModelOptions& options)
    : options_(options), model_(Model::load(model_dir, options)) {}

void SceneEngine::run(const TaskInput& in, const std::filesystem::path& out_dir, const ProgressFn& progress) const {
  progress("preprocess", 0, 3);
  const PreprocessedBatch batch = preprocess(in.image_paths, in.options.preprocess, in.cameras);
  ForwardOptions f = in.options.forward;
  if (batch.extrinsics.defined()) {  // as SceneRunner::run: normalised poses in, output aligned back
    f.extrinsics = normalize_input_extrinsics(batch.extrinsics);
    f.intrinsics = batch.intrinsics;
  }
  progress("inference", 1, 3);
  InferenceResult r = postprocess(model_.forward(batch.image, f), batch);
  align_to_input_cameras(r, batch);
  progress("export", 2, 3);
  export_results(r, out_dir.string(), in.options.formats, in.options.exports);
}

}  // namespace da3::server
