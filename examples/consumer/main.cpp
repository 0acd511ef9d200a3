// Loads a DA3 model directory (config.json + model.safetensors, as published on Hugging Face)
// and runs one forward pass on a flat grey image, through the public API only.
//
//   da3_consumer MODEL_DIR [WIDTH HEIGHT]     (multiples of 14; default 56x42)
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "da3/model.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [WIDTH HEIGHT]\n", argv[0]);
    return 2;
  }
  const int64_t w = argc > 3 ? std::atoll(argv[2]) : 56, h = argc > 3 ? std::atoll(argv[3]) : 42;
  try {
    const da3::Model model = da3::Model::load(argv[1]);
    // (1 batch, 1 view, 3, H, W), already ImageNet-normalised: 0 is the mean colour.
    const da3::Tensor image = da3::Tensor::zeros({1, 1, 3, h, w});
    const da3::Prediction p = model.forward(image);
    const float* d = p.depth.data_as<float>();
    std::printf("depth %s, first value %g\n", p.depth.describe().c_str(), d[0]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "da3_consumer: %s\n", e.what());
    return 1;
  }
}
