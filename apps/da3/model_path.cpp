// See model_path.hpp.
#include "model_path.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "da3/error.hpp"

namespace da3::cli {

namespace fs = std::filesystem;

std::string models_dir() {
  const char* env = std::getenv("DA3_MODELS_DIR");
  return env && *env ? env : "models";
}

std::string resolve_model_dir(const std::string& arg) {
  std::string m = arg;
  if (m.empty()) {
    const char* env = std::getenv("DA3_MODEL");
    if (!env || !*env)
      throw Error("no model: pass -m DIR (or a name `da3 pull` fetched, e.g. -m DA3-SMALL) or set DA3_MODEL; "
                  "get DA3-SMALL with `da3 pull DA3-SMALL`");
    m = env;
  }
  std::error_code ec;
  const fs::path p(m);
  if (fs::is_directory(p, ec)) return m;
  if (fs::is_regular_file(p, ec)) {
    if (p.filename() == "model.safetensors") return p.has_parent_path() ? p.parent_path().string() : ".";
    throw Error("model '" + m + "' is a file; give its folder (config.json + model.safetensors) or the path of "
                "its model.safetensors");
  }
  // A name, as `da3 pull` takes it: "DA3-SMALL" or "depth-anything/DA3-SMALL" (pull writes both
  // to <models dir>/DA3-SMALL). Anything else that does not exist is a missing folder.
  const std::string name = p.filename().string();
  const bool hub_id = std::count(m.begin(), m.end(), '/') == 1 && p.has_parent_path() && !p.is_absolute() &&
                      m.rfind("./", 0) != 0 && m.rfind("../", 0) != 0;
  if ((m.find('/') == std::string::npos || hub_id) && !name.empty()) {
    const fs::path pulled = fs::path(models_dir()) / name;
    if (fs::is_directory(pulled, ec)) return pulled.string();
    throw Error("model '" + m + "' is neither a folder here nor in " + models_dir() +
                "/ (DA3_MODELS_DIR); get it with `da3 pull " + m + "`, or give -m the checkpoint's folder");
  }
  throw Error("model folder '" + m + "' does not exist (give -m the folder holding config.json + model.safetensors, "
              "or a name `da3 pull` fetched)");
}

}  // namespace da3::cli
