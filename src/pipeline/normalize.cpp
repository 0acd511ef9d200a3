#include "pipeline/normalize.hpp"

#include <algorithm>

namespace da3::pipeline {

namespace {

// The reference's constants: f32 tensors in torchvision, f64 arrays in api.py.
constexpr double kMean[3] = {0.485, 0.456, 0.406};
constexpr double kStd[3] = {0.229, 0.224, 0.225};

NormalizeTables build() {
  NormalizeTables t{};
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(kMean[c]), std = static_cast<float>(kStd[c]);
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v) / 255.0f;
      const float y = (x - mean) / std;
      t.normalized[c][v] = y;
      const double back = std::clamp(static_cast<double>(y) * kStd[c] + kMean[c], 0.0, 1.0) * 255.0;
      t.round_trip[c][v] = static_cast<uint8_t>(back);  // truncation, as numpy's astype(uint8)
    }
  }
  return t;
}

}  // namespace

const NormalizeTables& normalize_tables() {
  static const NormalizeTables tables = build();
  return tables;
}

}  // namespace da3::pipeline
