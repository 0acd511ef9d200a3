#pragma once
// ImageNet normalisation as torchvision applies it (ToTensor: v / 255 in f32, then
// Normalize: (x - mean) / std in f32), and the reference's way back to uint8 for its exports
// (api.py _add_processed_images: f32 * std + mean in f64, clip to [0, 1], * 255, truncate).
// Both depend only on (channel, level), so they are 3 x 256 tables.
#include <array>
#include <cstdint>

namespace da3::pipeline {

struct NormalizeTables {
  std::array<std::array<float, 256>, 3> normalized;     // network input value
  std::array<std::array<uint8_t, 256>, 3> round_trip;   // the reference's processed_images value
};

const NormalizeTables& normalize_tables();

}  // namespace da3::pipeline
