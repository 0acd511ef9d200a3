#pragma once
// One frame of a stream as the stream keeps it: the network's view (processed image), its depth
// and confidence, and its camera. Frames come out of a window in that window's own frame and
// scale; move_to_world() puts them into the stream's world frame.
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "da3/pipeline.hpp"
#include "pipeline/stream/sim3.hpp"

namespace da3::stream {

struct StreamFrame {
  int64_t index = 0;                        // position in the stream, from 0
  double timestamp = std::nan("");          // seconds of video time; NaN when unknown
  std::string source;                       // file or video frame name
  int width = 0, height = 0;                // processed size: depth, conf and rgb are this size
  std::vector<float> depth, conf;           // H*W; conf empty when the model gives none
  std::vector<uint8_t> rgb;                 // H*W*3, the processed view
  std::array<double, 12> w2c{};             // 3x4 world-to-camera, row-major
  std::array<double, 9> K{};                // 3x3 intrinsics in processed pixels, row-major
};

// The views of one window's result, in its order. Throws da3::Error when the result lacks what
// streaming needs: depth, cameras (extrinsics and intrinsics: an any-view model), processed images.
std::vector<StreamFrame> frames_from_result(const InferenceResult& result);

// Re-expresses `f` after the world moved by T (X' = T(X)): the camera by
// transform_world_to_camera, depths scaled by T.s.
void move_to_world(StreamFrame& f, const Sim3& T);

// The world point seen at pixel (x, y) at depth d: c2w (d K⁻¹ [x, y, 1]), integer pixel
// coordinates as the point exports use them.
struct Backprojector {
  explicit Backprojector(const StreamFrame& f);
  Vec3 operator()(int x, int y, double d) const;
  double Ki[9], c2w[12];
};

}  // namespace da3::stream
