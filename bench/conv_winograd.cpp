// oneDNN's direct convolution vs our F(4x4, 3x3) Winograd kernel on the DPT head's 3x3 layers
// (DA3 at 504x378: the shapes `DNNL_VERBOSE=1 da3 bench model` lists), same weights, same
// threads, alternating. Prints the minimum of --repeat runs of each, the speedup, and the
// direct-equivalent GFLOP/s. How kWinogradMinPixels (nn/conv.hpp) was chosen: docs/perf.md.
//
//   da3_conv_winograd [threads=2] [repeat=9]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "da3/tensor.hpp"
#include "da3/threads.hpp"
#include "nn/conv.hpp"

using namespace da3;

namespace {

struct Shape3x3 {
  const char* what;
  int64_t h, w, in, out;
  bool band;  // forward_band: h includes the 2 halo rows
};

Tensor random_tensor(const Shape& s, std::mt19937& rng, float scale) {
  Tensor t = Tensor::empty(s);
  std::normal_distribution<float> d(0.f, scale);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

double time_ms(const nn::Conv2d& conv, const Tensor& x, bool band) {
  const auto t0 = std::chrono::steady_clock::now();
  Tensor y = band ? conv.forward_band(x) : conv.forward(x);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int repeat = argc > 2 ? std::atoi(argv[2]) : 9;
  set_num_threads(threads);
  const Shape3x3 shapes[] = {
      {"refinenet1 RCU (small)", 108, 144, 64, 64, false}, {"layer1_rn (small)", 108, 144, 48, 64, false},
      {"output_conv1 band", 34, 288, 64, 32, true},        {"output_conv2 band", 34, 504, 32, 32, true},
      {"refinenet2 RCU (small)", 54, 72, 64, 64, false},   {"layer2_rn (small)", 54, 72, 96, 64, false},
      {"refinenet3 RCU (small)", 27, 36, 64, 64, false},   {"layer3_rn (small)", 27, 36, 192, 64, false},
      {"refinenet4 RCU (small)", 14, 18, 64, 64, false},   {"8x8 map", 8, 8, 64, 64, false},
      {"refinenet1 RCU (base)", 108, 144, 128, 128, false},
      {"refinenet1 RCU (large)", 108, 144, 256, 256, false},
  };
  std::printf("3x3 convolutions, %d threads, min of %d runs each (alternating)\n", threads, repeat);
  std::printf("%-24s %-16s %10s %10s %8s %14s\n", "layer", "input", "direct ms", "wino ms", "speedup",
              "direct-eq GF/s");
  std::mt19937 rng(1);
  for (const auto& s : shapes) {
    const Tensor w = random_tensor({s.out, s.in, 3, 3}, rng, 0.05f);
    const Tensor b = random_tensor({s.out}, rng, 0.1f);
    const Tensor x = random_tensor({1, s.h, s.w, s.in}, rng, 1.f);
    nn::Conv2d direct(w, b, 1, 1, "direct"), wino(w, b, 1, 1, "winograd");
    direct.set_algorithm(nn::ConvAlgorithm::Direct);
    wino.set_algorithm(nn::ConvAlgorithm::Winograd);
    double td = 1e30, tw = 1e30;
    time_ms(direct, x, s.band), time_ms(wino, x, s.band);  // warm-up: primitive creation, weight transform
    for (int r = 0; r < repeat; ++r) {
      td = std::min(td, time_ms(direct, x, s.band));
      tw = std::min(tw, time_ms(wino, x, s.band));
    }
    const int64_t oh = s.band ? s.h - 2 : s.h;
    const double flops = 2.0 * oh * s.w * s.in * s.out * 9;
    char input[32];
    std::snprintf(input, sizeof input, "%lldx%lldx%lld", (long long)s.h, (long long)s.w, (long long)s.in);
    std::printf("%-24s %-16s %10.3f %10.3f %7.2fx %6.1f / %6.1f\n", s.what, input, td, tw, td / tw,
                flops / td * 1e-6, flops / tw * 1e-6);
  }
  return 0;
}
