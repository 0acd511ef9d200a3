// See run_manifest.hpp.
#include "pipeline/run_manifest.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "da3/error.hpp"
#include "da3/version.hpp"
#include "io/image.hpp"

namespace da3 {

namespace fs = std::filesystem;

namespace {

// What export_results writes at the top of a scene folder (docs/cli.md, Formats), for folders
// written before runs left a manifest.
constexpr const char* kExportNames[] = {"results.npz", "results_mini.npz", "depth_png",    "depth16",
                                        "points.ply",  "scene.glb",        "colmap",       "depth_vis",
                                        "feat_vis",    "input_images"};

// A manifest entry is trusted only as a plain relative path inside the folder: a hand-edited
// or foreign manifest must not make --overwrite delete anything elsewhere.
bool inside(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  for (const auto& part : fs::path(rel))
    if (part == ".." || part == ".") return false;
  return true;
}

std::vector<std::string> previous_exports(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  auto look = [&](const fs::path& d, const std::string& prefix) {
    for (const char* n : kExportNames)
      if (fs::exists(fs::symlink_status(d / n, ec))) found.push_back(prefix + n);
  };
  look(dir, "");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) look(it->path(), it->path().filename().string() + "/");
  return found;
}

}  // namespace

RunManifest::RunManifest(const std::string& out_dir, const std::string& command, bool overwrite)
    : out_dir_(out_dir), command_(command) {
  const fs::path dir(out_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;  // a new folder: nothing was there before
  const fs::path manifest = dir / kFileName;
  if (fs::exists(fs::symlink_status(manifest, ec))) {
    const std::string who = "the manifest '" + manifest.string() + "'";
    nlohmann::json j;
    try {
      std::ifstream f(manifest);
      j = nlohmann::json::parse(f);
    } catch (const std::exception&) {
      throw Error(who + " cannot be read as JSON; remove it, or choose another output folder");
    }
    if (!j.is_object() || !j.contains("files") || !j["files"].is_array())
      throw Error(who + " has no \"files\" list; remove it, or choose another output folder");
    for (const auto& f : j["files"]) {
      if (!f.is_string() || !inside(f.get<std::string>()))
        throw Error(who + " names " + f.dump() + ", which is not a path inside the folder; remove the manifest, "
                    "or choose another output folder");
      old_.insert(f.get<std::string>());
    }
    if (!overwrite) {
      std::string some;
      int shown = 0;
      for (const auto& f : old_)
        if (shown++ < 3) some += (some.empty() ? "" : ", ") + f;
      throw Error("output folder '" + out_dir + "' holds the files of a previous run (" + std::to_string(old_.size()) +
                  (old_.size() > 3 ? ": " + some + ", ..." : ": " + some) +
                  "); pass --overwrite to replace them, or choose another -o");
    }
    return;
  }
  const auto found = previous_exports(dir);
  if (!found.empty() && !overwrite)
    throw Error("output folder '" + out_dir + "' already holds " + found[0] +
                (found.size() > 1 ? " and " + std::to_string(found.size() - 1) + " more outputs" : std::string()) +
                "; pass --overwrite to replace them, or choose another -o");
  // Without a manifest nothing says which files inside those folders da3 wrote: they are
  // replaced where this run writes the same names, and otherwise left alone.
}

void RunManifest::record(const std::vector<std::string>& written) {
  const fs::path dir(out_dir_);
  std::error_code ec;
  for (const std::string& w : written) {
    const fs::path p(w);
    const std::string rel = p.lexically_relative(dir).string();
    if (!inside(rel)) continue;
    if (fs::is_directory(fs::symlink_status(p, ec))) {
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) new_.insert(it->path().lexically_relative(dir).string());
    } else {
      new_.insert(rel);
    }
  }
  save();
}

void RunManifest::finish() {
  const fs::path dir(out_dir_);
  std::error_code ec;
  for (const std::string& rel : old_) {
    if (new_.count(rel)) continue;
    const fs::path p = dir / rel;
    // Only a regular file is removed, reached without a symbolic link on the way: a folder or
    // link put there since is the user's, and a linked folder would lead outside OUT.
    bool linked = false;
    fs::path walk = dir;
    for (const auto& part : fs::path(rel)) {
      walk /= part;
      linked = linked || fs::is_symlink(fs::symlink_status(walk, ec));
    }
    if (linked || !fs::is_regular_file(fs::symlink_status(p, ec))) continue;
    fs::remove(p, ec);
    // Then its folders, up to (not including) the output folder, while they are empty.
    for (fs::path d = p.parent_path(); d != dir && d.string().size() > dir.string().size(); d = d.parent_path())
      if (!fs::remove(d, ec)) break;  // remove() takes only an empty folder
  }
  old_.clear();
  save();
}

void RunManifest::save() const {
  nlohmann::ordered_json j;
  j["format"] = "da3 run manifest";
  j["about"] = "files the last da3 run wrote into this folder; `--overwrite` removes exactly these";
  j["da3"] = version();
  j["command"] = command_;
  nlohmann::json files = nlohmann::json::array();
  std::set<std::string> all = new_;
  all.insert(old_.begin(), old_.end());
  for (const auto& f : all) files.push_back(f);
  j["files"] = files;
  io::write_file_atomic((fs::path(out_dir_) / kFileName).string(), j.dump(2) + "\n");
}

}  // namespace da3
