#pragma once
// Where a model is: what `-m` accepts, shared by every command that loads one, and the folder
// `da3 pull` writes to.
#include <string>

namespace da3::cli {

// $DA3_MODELS_DIR, else "models": where `da3 pull` writes and where `-m NAME` looks.
std::string models_dir();

// `-m` as given (empty: $DA3_MODEL) to a checkpoint folder: a folder as is; a path to its
// model.safetensors as its folder; a preset name `da3 pull` wrote (DA3-SMALL, or the hub id
// depth-anything/DA3-SMALL) as models_dir()/DA3-SMALL. Throws da3::Error, saying what was
// looked for and how to get the model, when none of these exists.
std::string resolve_model_dir(const std::string& arg);

}  // namespace da3::cli
