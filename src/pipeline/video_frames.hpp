#pragma once
// Frames sampled from a video file at a fixed rate of video time (OpenCV videoio, FFmpeg
// backend, in the media plugin: io/media.hpp), as RGB images ready for preprocess(). `da3 video` reads them chunk by chunk, so a
// long video never has to be held in memory whole.
#include <cstdint>
#include <memory>
#include <string>

#include "da3/pipeline.hpp"

namespace da3 {

struct VideoProperties {
  double fps = 0;           // frames per second the container declares (0: unknown)
  int64_t frame_count = 0;  // the container's estimate; may be 0 or approximate
  int width = 0, height = 0;
};

class VideoFrameSampler {
 public:
  // Opens `path` and checks it is a video: throws da3::Error naming the file when it does not
  // exist, is a directory, cannot be read, is an image (use `da3 infer`), or is not a video
  // FFmpeg can decode. `sample_fps` must be a positive, finite number.
  VideoFrameSampler(const std::string& path, double sample_fps);
  ~VideoFrameSampler();
  VideoFrameSampler(const VideoFrameSampler&) = delete;
  VideoFrameSampler& operator=(const VideoFrameSampler&) = delete;

  const VideoProperties& properties() const { return props_; }

  // The next sampled frame: the first frame of each 1/sample_fps interval of video time (frame
  // i is at i / fps; every frame when sample_fps >= fps). Its name is "<stem>_frame<i>", i the
  // frame's index in the video. Returns false at the end of the video.
  bool next(RgbImage& frame);

  int64_t frames_decoded() const { return index_; }  // frames read so far, sampled or not

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  VideoProperties props_;
  std::string path_, stem_;
  double sample_fps_;
  int64_t index_ = 0;        // index of the next frame in the video
  int64_t last_bucket_ = -1;  // sampling interval of the last frame kept
};

// Writes each frame as `<dir>/<name>.png` (lossless, the decoded frame at its full size) and
// renames the frame to that file name: the frames a video run used exist as files, so its
// exports (COLMAP image names, npz source_names) name files a splatting or SfM tool can open
// (the official CLI's input_images/). Returns the paths written.
std::vector<std::string> write_input_images(std::vector<RgbImage>& frames, const std::string& dir);

}  // namespace da3
