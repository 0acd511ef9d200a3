// See stream_reconstructor.hpp.
#include "pipeline/stream/stream_reconstructor.hpp"

#include <chrono>

#include "da3/error.hpp"

namespace da3::stream {

StreamReconstructor::StreamReconstructor(const StreamOptions& o, WindowPredictor& p, StreamSink& s)
    : opt_(o), predictor_(p), sink_(s) {
  if (o.overlap < 1)
    throw Error("--overlap must be at least 1: consecutive windows are aligned through the frames they share");
  if (o.window <= o.overlap)
    throw Error("--window (" + std::to_string(o.window) + ") must be larger than --overlap (" +
                std::to_string(o.overlap) + "): each window needs new frames");
}

void StreamReconstructor::resume(std::vector<StreamFrame> anchor, int64_t windows_done) {
  DA3_CHECK(next_index_ == 0 && images_.empty(), "stream: resume() must come before the first push()");
  DA3_CHECK(!anchor.empty(), "stream: resume needs the last window's overlap frames");
  next_index_ = anchor.front().index;
  frames_final_ = anchor.back().index + 1;
  windows_done_ = windows_done;
  anchor_ = std::move(anchor);
}

void StreamReconstructor::push(RgbImage image, double timestamp) {
  images_.push_back(std::move(image));
  indices_.push_back(next_index_++);
  timestamps_.push_back(timestamp);
  if (static_cast<int>(images_.size()) >= opt_.window) run_window();
}

void StreamReconstructor::finish() {
  // Frames beyond the anchor's are new: run them (a first window may be shorter than --window).
  if (images_.size() > anchor_.size()) run_window();
}

void StreamReconstructor::run_window() {
  const auto t0 = std::chrono::steady_clock::now();
  InferenceResult r = predictor_.predict(images_);
  std::vector<StreamFrame> frames = frames_from_result(r);
  r = InferenceResult{};  // its tensors duplicate `frames`
  if (frames.size() != images_.size())
    throw Error("stream: the window of " + std::to_string(images_.size()) + " frames gave " +
                std::to_string(frames.size()) + " predictions");
  for (size_t i = 0; i < frames.size(); ++i) {
    frames[i].index = indices_[i];
    frames[i].timestamp = timestamps_[i];
    if (frames[i].source.empty()) frames[i].source = images_[i].name;
  }

  WindowReport rep;
  rep.window = windows_done_;
  rep.first_frame = indices_.front();
  rep.frames = static_cast<int64_t>(frames.size());
  const size_t shared = anchor_.size();  // leading frames of this window already final
  if (shared == 0) {
    // The world frame: frame 0's camera at this window's scale, X_world = Rc0 X + tc0.
    const auto& e = frames.front().w2c;
    rep.seam.T.s = 1;
    rep.seam.T.R = {e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]};
    rep.seam.T.t = {e[3], e[7], e[11]};
  } else {
    std::vector<const StreamFrame*> window_side;
    for (size_t k = 0; k < shared; ++k) window_side.push_back(&frames[k]);
    AlignmentOptions ao = opt_.align;
    ao.robust.seed = opt_.align.robust.seed + static_cast<uint64_t>(windows_done_);
    rep.seam = align_overlap(anchor_, window_side, ao);
  }
  for (StreamFrame& f : frames) move_to_world(f, rep.seam.T);
  if (shared == 0) {
    // Exactly the identity for frame 0, not identity up to rounding.
    frames.front().w2c = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  }
  for (size_t i = shared; i < frames.size(); ++i) sink_.on_frame(frames[i]);
  rep.new_frames = static_cast<int64_t>(frames.size() - shared);
  frames_final_ = indices_.back() + 1;

  // The next window starts with this one's last `overlap` frames.
  const size_t keep = std::min(frames.size(), static_cast<size_t>(opt_.overlap));
  anchor_.assign(std::make_move_iterator(frames.end() - static_cast<std::ptrdiff_t>(keep)),
                 std::make_move_iterator(frames.end()));
  images_.erase(images_.begin(), images_.end() - static_cast<std::ptrdiff_t>(keep));
  indices_.erase(indices_.begin(), indices_.end() - static_cast<std::ptrdiff_t>(keep));
  timestamps_.erase(timestamps_.begin(), timestamps_.end() - static_cast<std::ptrdiff_t>(keep));
  ++windows_done_;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sink_.on_window(rep, anchor_);
}

}  // namespace da3::stream
