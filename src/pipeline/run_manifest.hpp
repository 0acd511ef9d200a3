#pragma once
// What one `da3` run wrote into its output folder, recorded there (da3_manifest.json), so that a
// later run into the same folder can refuse it (the user would otherwise get the new files mixed
// with the old ones without a word) or, with --overwrite, remove exactly the old files: never a
// file da3 did not write, never anything outside the folder.
#include <set>
#include <string>
#include <vector>

namespace da3 {

class RunManifest {
 public:
  static constexpr const char* kFileName = "da3_manifest.json";

  // Checks `out_dir` before anything runs. A folder holds a previous run's outputs when it has
  // a manifest, or (runs of versions before the manifest) one of the exports' own names at its
  // top or one level down (results.npz, depth_png/, ...). Without `overwrite` that is an error
  // naming what is there; with it the old files are remembered, to be removed by finish().
  // Throws for a manifest that cannot be read or names paths outside the folder.
  RunManifest(const std::string& out_dir, const std::string& command, bool overwrite);

  // Paths (files or folders, as export_results returns them) this run has just written; the
  // manifest on disk is rewritten at once, listing these and the old files still present, so
  // a run that fails half-way leaves a manifest a later --overwrite can clean up after.
  void record(const std::vector<std::string>& written);

  // The run succeeded: old files this run did not rewrite are removed (and folders that this
  // leaves empty), and the manifest lists this run's files alone.
  void finish();

  const std::string& out_dir() const { return out_dir_; }

 private:
  void save() const;
  std::string out_dir_, command_;
  std::set<std::string> old_;  // relative to out_dir_
  std::set<std::string> new_;  // relative to out_dir_
};

}  // namespace da3
