#pragma once
// The size arithmetic of the reference InputProcessor, kept apart from the pixels so it can be
// checked exhaustively against the reference (tests/fixtures/pipeline/preprocess.json).
#include "da3/pipeline.hpp"

namespace da3::pipeline {

constexpr int kPatchSize = 14;

// One resize step of the plan.
struct ResizeStep {
  bool resize = false;  // else nothing to do
  int width = 0, height = 0;
  bool cubic = false;   // INTER_CUBIC when enlarging, else INTER_AREA
};

struct ResizePlan {
  ResizeStep boundary;   // longest / shortest side to process_res
  ResizeStep divisible;  // *_resize: to the nearest multiples of 14
  int crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;  // *_crop: centre crop to multiples of 14
  ProcessedSize size;
};

ResizePlan plan_resize(int width, int height, int process_res, ResizeMethod method);

}  // namespace da3::pipeline
