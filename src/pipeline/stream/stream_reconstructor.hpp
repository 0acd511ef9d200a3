#pragma once
// Streaming reconstruction: frames arrive one at a time; every `window` frames (the first
// `overlap` of them shared with the window before) run as one multi-view scene; each window is
// carried into one world frame by the Sim(3) its overlap frames give (overlap_alignment.hpp).
//
// The world frame is the first frame's camera (identity extrinsics) at the first window's
// scale. A frame is final, and handed to the sink, when the first window holding it has been
// aligned: the frames of an overlap keep the earlier window's prediction, and the later window
// only uses them to align itself. Memory: the frames of one window, plus the `overlap` final
// frames kept as the next alignment's target.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "da3/pipeline.hpp"
#include "pipeline/stream/overlap_alignment.hpp"
#include "pipeline/stream/stream_frame.hpp"

namespace da3::stream {

// Where a window's predictions come from: the model (the CLI), or a synthetic scene (tests).
class WindowPredictor {
 public:
  virtual ~WindowPredictor() = default;
  // One multi-view forward over `images` (in stream order): depth, confidence, cameras and
  // processed views for each, as postprocess() returns them.
  virtual InferenceResult predict(const std::vector<RgbImage>& images) = 0;
};

struct WindowReport {
  int64_t window = 0;                   // 0-based
  int64_t first_frame = 0, frames = 0;  // the window's frames in the stream
  int64_t new_frames = 0;               // frames made final by this window
  SeamAlignment seam;                   // window 0: T puts frame 0 at the origin; fit empty
  double seconds = 0;                   // predict + align
};

// Receives the results in stream order.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void on_frame(const StreamFrame& frame) = 0;  // final, in the world frame
  // After each window, once its frames went to on_frame: `anchor` are the frames the next window
  // will be aligned to (what a resumed run needs to go on).
  virtual void on_window(const WindowReport& report, const std::vector<StreamFrame>& anchor) = 0;
};

struct StreamOptions {
  int window = 32, overlap = 8;
  AlignmentOptions align;
};

class StreamReconstructor {
 public:
  // Throws da3::Error unless 1 <= overlap < window.
  StreamReconstructor(const StreamOptions& options, WindowPredictor& predictor, StreamSink& sink);

  // Continue a stream whose windows up to `windows_done` are final: `anchor` are its last final
  // frames (the previous window's overlap, in the world frame). The next frames pushed must
  // be the anchor's frames again (their images are the next window's first views), then the
  // frames after them.
  void resume(std::vector<StreamFrame> anchor, int64_t windows_done);

  // A frame, in stream order. Runs a window when `window` frames are buffered.
  void push(RgbImage image, double timestamp);
  // Runs the last, partial window (if it holds new frames).
  void finish();

  int64_t frames_pushed() const { return next_index_; }
  int64_t frames_final() const { return frames_final_; }
  int64_t windows_done() const { return windows_done_; }

 private:
  void run_window();

  StreamOptions opt_;
  WindowPredictor& predictor_;
  StreamSink& sink_;
  std::vector<RgbImage> images_;
  std::vector<int64_t> indices_;
  std::vector<double> timestamps_;
  std::vector<StreamFrame> anchor_;  // final frames the buffer starts with (world frame)
  int64_t next_index_ = 0, frames_final_ = 0, windows_done_ = 0;
};

}  // namespace da3::stream
