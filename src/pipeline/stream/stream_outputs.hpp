#pragma once
// What a stream writes under its output directory, each file as soon as it is final:
//   frames/NNNNNN.jpg     the processed view of frame N (what the network saw)
//   depth/NNNNNN.npz      depth (H, W), conf (H, W), extrinsics (3, 4) world-to-camera,
//                         intrinsics (3, 3) in the pixels of frames/NNNNNN.jpg; all float32
//   trajectory.json       per frame: index, timestamp, files, extrinsics, intrinsics; per window:
//                         its frames and the seam's alignment figures (written at the end)
//   points.ply, scene.glb the fused cloud (voxel grid), when asked for
//   colmap/               sparse/0/*.bin and text/*.txt; image names are the files in frames/
//   .stream/              resume state: state.json, log.jsonl (one line per final frame and per
//                         window), voxels-<windows>.bin (the grid, with ply/glb/colmap)
// Every file is written atomically; directories of files (colmap/) appear whole.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/stream/stream_reconstructor.hpp"
#include "pipeline/stream/voxel_fusion.hpp"

namespace da3::stream {

struct StreamOutputOptions {
  bool ply = false, glb = false, colmap = false;  // fused outputs
  double voxel_size = 0;                          // 0: auto_voxel_size(first frame)
  double conf_percentile = 40;                    // fusion: pixels below it in their frame are dropped
  int64_t max_points = 1'000'000;                 // fused outputs: a seeded random subset above this
  int jpeg_quality = 95;
  // Describes the run (inputs and every setting that changes results); a resumed run must
  // present the same one.
  std::string fingerprint;
  int window = 32, overlap = 8;
};

// What a resumed run starts from.
struct StreamResumePoint {
  int64_t windows_done = 0;
  int64_t frames_final = 0;
  std::vector<StreamFrame> anchor;  // the last window's overlap frames, world frame
  bool finished = false;
};

class StreamOutputs : public StreamSink {
 public:
  // A new stream: refuses a directory that already holds one (pointing at --resume).
  StreamOutputs(const std::string& out_dir, const StreamOutputOptions& options);
  // Continue the stream in `out_dir`: checks the fingerprint and reads where it stopped.
  static std::unique_ptr<StreamOutputs> resume(const std::string& out_dir, const StreamOutputOptions& options,
                                               StreamResumePoint& point);
  ~StreamOutputs() override;

  void on_frame(const StreamFrame& frame) override;
  void on_window(const WindowReport& report, const std::vector<StreamFrame>& anchor) override;
  // trajectory.json, then the fused outputs; returns the paths written.
  std::vector<std::string> finish();

  size_t fused_points() const { return grid_ ? grid_->size() : 0; }

 private:
  StreamOutputs(const std::string& out_dir, const StreamOutputOptions& options, bool);
  std::string path(const std::string& rel) const;
  void start();  // creates the directories and the log (a new stream: on its first final frame)
  void append_log(const std::string& line);
  void write_state(bool finished);

  std::string dir_;
  StreamOutputOptions opt_;
  std::optional<VoxelGrid> grid_;
  int log_fd_ = -1;
  int64_t log_lines_ = 0, windows_done_ = 0, frames_final_ = 0;
  std::vector<int64_t> anchor_indices_;
};

// Reads depth/NNNNNN.npz of frame `index` back (what a resumed stream aligns its next window to).
StreamFrame read_final_frame(const std::string& out_dir, int64_t index);

// "000042" (at least 6 digits).
std::string frame_stem(int64_t index);

}  // namespace da3::stream
