// See stream_frame.hpp.
#include "pipeline/stream/stream_frame.hpp"

#include <cstring>

#include "da3/error.hpp"

namespace da3::stream {

std::vector<StreamFrame> frames_from_result(const InferenceResult& r) {
  if (!r.depth.defined() || r.depth.dim() != 3) throw Error("stream: the window's result has no depth");
  if (!r.extrinsics.defined() || !r.intrinsics.defined())
    throw Error("stream: the model gives no camera poses; streaming needs an any-view model (e.g. DA3-SMALL, "
                "DA3-BASE, DA3-LARGE, DA3-GIANT), not a mono or metric one");
  if (!r.processed_images.defined()) throw Error("stream: the window's result has no processed images");
  const int64_t n = r.depth.size(0), H = r.depth.size(1), W = r.depth.size(2);
  const Tensor depth = r.depth.to(DType::F32).contiguous();
  const Tensor conf = r.conf.defined() ? r.conf.to(DType::F32).contiguous() : Tensor();
  const Tensor ext = r.extrinsics.to(DType::F64).contiguous();
  const Tensor intr = r.intrinsics.to(DType::F64).contiguous();
  const Tensor img = r.processed_images.contiguous();
  DA3_CHECK(ext.size(0) == n && intr.size(0) == n && img.size(0) == n, "stream: the result's views disagree in number");
  const int64_t ext_rows = ext.size(1);  // 3x4 or 4x4
  std::vector<StreamFrame> out(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) {
    StreamFrame& f = out[static_cast<size_t>(v)];
    f.width = static_cast<int>(W);
    f.height = static_cast<int>(H);
    const float* d = depth.data_as<float>() + v * H * W;
    f.depth.assign(d, d + H * W);
    if (conf.defined()) {
      const float* c = conf.data_as<float>() + v * H * W;
      f.conf.assign(c, c + H * W);
    }
    const uint8_t* p = img.data_as<uint8_t>() + v * H * W * 3;
    f.rgb.assign(p, p + H * W * 3);
    const double* e = ext.data_as<double>() + v * ext_rows * 4;
    std::memcpy(f.w2c.data(), e, sizeof(double) * 12);
    const double* k = intr.data_as<double>() + v * 9;
    std::memcpy(f.K.data(), k, sizeof(double) * 9);
    if (v < static_cast<int64_t>(r.views.size())) f.source = r.views[static_cast<size_t>(v)].source;
  }
  return out;
}

void move_to_world(StreamFrame& f, const Sim3& T) {
  f.w2c = transform_world_to_camera(f.w2c, T);
  const float s = static_cast<float>(T.s);
  for (float& d : f.depth) d *= s;
}

Backprojector::Backprojector(const StreamFrame& f) {
  const double* k = f.K.data();
  // Inverse of an upper-triangular pinhole K (fx s cx; 0 fy cy; 0 0 1), the general inverse for
  // anything else.
  const double det = k[0] * (k[4] * k[8] - k[5] * k[7]) - k[1] * (k[3] * k[8] - k[5] * k[6]) +
                     k[2] * (k[3] * k[7] - k[4] * k[6]);
  if (!(std::fabs(det) > 0) || !std::isfinite(det))
    throw Error("stream: frame " + std::to_string(f.index) + " has singular intrinsics");
  Ki[0] = (k[4] * k[8] - k[5] * k[7]) / det;
  Ki[1] = (k[2] * k[7] - k[1] * k[8]) / det;
  Ki[2] = (k[1] * k[5] - k[2] * k[4]) / det;
  Ki[3] = (k[5] * k[6] - k[3] * k[8]) / det;
  Ki[4] = (k[0] * k[8] - k[2] * k[6]) / det;
  Ki[5] = (k[2] * k[3] - k[0] * k[5]) / det;
  Ki[6] = (k[3] * k[7] - k[4] * k[6]) / det;
  Ki[7] = (k[1] * k[6] - k[0] * k[7]) / det;
  Ki[8] = (k[0] * k[4] - k[1] * k[3]) / det;
  // c2w = [Rᵀ | -Rᵀ t] of the rotation part; DA3's rotations are orthonormal up to rounding.
  const auto& e = f.w2c;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) c2w[i * 4 + j] = e[j * 4 + i];
    c2w[i * 4 + 3] = -(e[0 * 4 + i] * e[3] + e[1 * 4 + i] * e[7] + e[2 * 4 + i] * e[11]);
  }
}

Vec3 Backprojector::operator()(int x, int y, double d) const {
  double cam[3];
  for (int a = 0; a < 3; ++a) cam[a] = (Ki[a * 3] * x + Ki[a * 3 + 1] * y + Ki[a * 3 + 2]) * d;
  Vec3 w;
  for (int a = 0; a < 3; ++a)
    w[a] = c2w[a * 4] * cam[0] + c2w[a * 4 + 1] * cam[1] + c2w[a * 4 + 2] * cam[2] + c2w[a * 4 + 3];
  return w;
}

}  // namespace da3::stream
