// The poses input of `da3 infer --poses FILE.npz` end to end, without the network: read_npz
// (src/io/npz.cpp), the CLI's member check (apps/da3/cmd_infer.cpp), the camera checks of
// preprocess (src/pipeline/preprocess.cpp), the normalisation the network gets
// (normalize_input_extrinsics) and the Sim(3) alignment of the outputs back to the given poses
// (align_to_input_cameras, src/pipeline/pose_alignment.cpp), with the normalised poses standing
// in for the network's prediction. One 28x28 grey image per view (no resize, so no OpenCV).
#include <algorithm>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "fuzz_util.hpp"
#include "io/npz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = da3::fuzz::write_file("poses.npz", {reinterpret_cast<const char*>(data), size});
  try {
    const auto z = da3::io::read_npz(path);
    if (!z.count("extrinsics") || !z.count("intrinsics")) return 0;  // the CLI refuses these
    da3::CameraInputs cams;
    cams.extrinsics = z.at("extrinsics");
    cams.intrinsics = z.at("intrinsics");
    // As many views as the poses describe (a wrong count is one of the errors under test).
    int64_t n = 1;
    const auto& e = cams.extrinsics;
    if (e.dim() == 3) n = e.size(0);
    else if (e.dim() == 4 && e.size(0) == 1) n = e.size(1);
    n = std::clamp<int64_t>(n, 1, 16);
    std::vector<da3::RgbImage> images(static_cast<size_t>(n));
    for (auto& im : images) {
      im.width = im.height = 28;
      im.rgb.assign(28 * 28 * 3, 128);
    }
    da3::PreprocessOptions o;
    o.process_res = 28;
    o.threads = 1;
    const da3::PreprocessedBatch b = da3::preprocess(images, o, cams);
    if (!b.extrinsics.defined()) return 0;
    const da3::Tensor norm = da3::normalize_input_extrinsics(b.extrinsics);
    da3::InferenceResult r;
    r.extrinsics = norm.squeeze(0).slice(1, 0, 3).contiguous();
    r.depth = da3::Tensor::full({n, 28, 28}, 1.f);
    r.views = b.views;
    da3::align_to_input_cameras(r, b);
    volatile uint64_t keep = da3::fuzz::touch(r.depth) + da3::fuzz::touch(r.extrinsics);
    (void)keep;
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  return 0;
}
