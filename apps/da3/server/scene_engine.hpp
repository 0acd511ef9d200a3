#pragma once
// The resident model and the run of one task through it: the same steps, in the same order and
// with the same defaults, as `da3 infer` (SceneRunner::run in scene_runner.cpp), so that a task
// and the CLI give equal files for equal inputs. The model is loaded once, at construction.
#include <filesystem>
#include <string>

#include "da3/model.hpp"
#include "server/task_store.hpp"

namespace da3::server {

class SceneEngine {
 public:
  SceneEngine(const std::string& model_dir, const ModelOptions& options);

  // Preprocess, forward, postprocess, align to input cameras, export (stages 0..3 of 3).
  void run(const TaskInput& input, const std::filesystem::path& out_dir, const ProgressFn& progress) const;

  const Model& model() const { return model_; }
  const ModelOptions& options() const { return options_; }

 private:
  ModelOptions options_;
  Model model_;
};

}  // namespace da3::server
