#pragma once
// A COLMAP dataset as `da3 colmap` takes it (the official command's layout): DIR/images/ with the
// pictures and DIR/sparse/ (or DIR/sparse/<subdir>/) with the sparse model whose cameras become
// the run's input poses (pose-conditioned depth).
#include <string>
#include <vector>

#include "da3/pipeline.hpp"

namespace da3 {

struct ColmapDataset {
  std::string sparse_dir;                // the model folder read
  std::vector<std::string> image_paths;  // DIR/images/<name>, sorted by name, files that exist
  std::vector<std::pair<uint64_t, uint64_t>> sizes;  // COLMAP's width, height of each
  CameraInputs cameras;                  // extrinsics (N, 4, 4), intrinsics (N, 3, 3), in COLMAP's pixels
  std::vector<std::string> missing;      // registered images without a file (skipped, as officially)
  std::vector<std::string> distorted;    // camera models whose distortion was dropped
};

// True when `dir` looks like a COLMAP dataset: folders images/ and sparse/ (the official test).
bool is_colmap_dataset(const std::string& dir);

// Reads the dataset; `sparse_subdir` "" means DIR/sparse, or DIR/sparse/0 when DIR/sparse holds
// no model itself (the layout COLMAP's mapper and our colmap export write). Throws da3::Error for
// a missing folder, an unreadable model, or no registered image with a file.
ColmapDataset load_colmap_dataset(const std::string& dir, const std::string& sparse_subdir = "");

}  // namespace da3
