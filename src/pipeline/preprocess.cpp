// preprocess(): the reference InputProcessor (utils/io/input_processor.py), image by image in
// parallel, then batch unification, normalisation and the intrinsics adjustment.
#include <algorithm>
#include <cmath>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/pipeline.hpp"
#include "da3/threads.hpp"
#include "io/image.hpp"
#include "io/image_buffer.hpp"
#include "pipeline/normalize.hpp"
#include "pipeline/parallel.hpp"
#include "pipeline/resize_cubic.hpp"
#include "pipeline/resize_opencv.hpp"
#include "pipeline/resize_plan.hpp"

namespace da3 {

namespace {

using pipeline::ResizePlan;

// One image after resizing and cropping, before batch unification.
struct Processed {
  io::ImageBuffer rgb;  // 3 channels, processed size
  ViewInfo view;
};

void check_plan(const ResizePlan& plan, const std::string& name, int w, int h, const PreprocessOptions& o) {
  const auto& s = plan.size;
  const std::string sizes = std::to_string(w) + "x" + std::to_string(h) + " would be processed to " +
                            std::to_string(s.width) + "x" + std::to_string(s.height);
  if (s.width < pipeline::kPatchSize || s.height < pipeline::kPatchSize)
    throw Error("image '" + name + "' (" + sizes + " by " + resize_method_name(o.method) +
                " at process_res " + std::to_string(o.process_res) +
                "): less than one 14-pixel patch on a side; its aspect ratio is too extreme");
  // lower_bound_* scales the short side to process_res, so a long strip grows without bound.
  const int64_t max_pixels = 16 * int64_t(o.process_res) * o.process_res;
  if (int64_t(s.width) * s.height > max_pixels)
    throw Error("image '" + name + "' (" + sizes + " by " + resize_method_name(o.method) +
                "): more than 16 x process_res^2 pixels; its aspect ratio is too extreme for this method");
}

// Shrinking: OpenCV's INTER_AREA, bit-identical to the reference's. Enlarging: bicubic as
// the reference's opencv-python computes it (resize_cubic.hpp says why not cv::INTER_CUBIC).
io::ImageBuffer resize_to(const io::ImageView& src, int w, int h, bool cubic) {
  return cubic ? pipeline::resize_cubic(src, w, h) : pipeline::resize_area(src, w, h);
}

// rgb: the decoded pixels (possibly reduced by libjpeg); orig_w x orig_h: the true image size.
Processed process_one(const io::ImageView& rgb, int orig_w, int orig_h, int decoded_scale, const std::string& name,
                      const PreprocessOptions& o) {
  if (orig_w < o.limits.min_side || orig_h < o.limits.min_side)
    throw Error("image '" + name + "' is " + std::to_string(orig_w) + "x" + std::to_string(orig_h) +
                " pixels; da3 needs at least " + std::to_string(o.limits.min_side) + " pixels on each side");
  const ResizePlan plan = pipeline::plan_resize(orig_w, orig_h, o.process_res, o.method);
  check_plan(plan, name, orig_w, orig_h, o);

  // Each step reads the previous one's pixels; `img` stays empty while no step has run.
  io::ImageBuffer img;
  auto current = [&] { return img.empty() ? rgb : img.view(); };
  const int bw = plan.boundary.resize ? plan.boundary.width : orig_w;
  const int bh = plan.boundary.resize ? plan.boundary.height : orig_h;
  if (rgb.width != bw || rgb.height != bh) img = resize_to(rgb, bw, bh, plan.boundary.cubic);
  if (plan.divisible.resize)
    img = resize_to(current(), plan.divisible.width, plan.divisible.height, plan.divisible.cubic);
  if (plan.crop_w > 0) img = io::crop(current(), plan.crop_x, plan.crop_y, plan.crop_w, plan.crop_h);

  Processed p;
  p.rgb = img.empty() ? io::crop(rgb, 0, 0, rgb.width, rgb.height) : std::move(img);
  p.view.source = name;
  p.view.orig_width = orig_w;
  p.view.orig_height = orig_h;
  p.view.resized_width = plan.size.resized_width;
  p.view.resized_height = plan.size.resized_height;
  p.view.crop_x = plan.size.crop_x;
  p.view.crop_y = plan.size.crop_y;
  p.view.width = plan.size.width;
  p.view.height = plan.size.height;
  p.view.decoded_scale = decoded_scale;
  return p;
}

// _unify_batch_shapes: centre-crop every view to the smallest height and width in the batch.
void unify(std::vector<Processed>& items) {
  int min_w = items[0].view.width, min_h = items[0].view.height;
  bool same = true;
  for (const auto& p : items) {
    same = same && p.view.width == min_w && p.view.height == min_h;
    min_w = std::min(min_w, p.view.width);
    min_h = std::min(min_h, p.view.height);
  }
  if (same) return;
  log_warn("images in the batch have different processed sizes; centre-cropping all to the smallest (" +
           std::to_string(min_w) + "x" + std::to_string(min_h) + ")");
  for (auto& p : items) {
    const int top = (p.view.height - min_h) / 2, left = (p.view.width - min_w) / 2;
    p.rgb = io::crop(p.rgb.view(), left, top, min_w, min_h);
    p.view.crop_x += left;
    p.view.crop_y += top;
    p.view.width = min_w;
    p.view.height = min_h;
  }
}

// (N, r, c) or (1, N, r, c) of any float dtype -> f64 contiguous (N, r, c).
Tensor camera_matrices(const Tensor& t, int64_t n, const char* what, const std::string& expected) {
  Tensor x = t;
  if (x.dim() == 4 && x.size(0) == 1) x = x.squeeze(0);
  const bool ok_rows = x.dim() == 3 && x.size(0) == n &&
                       (expected == "3x3" ? x.size(1) == 3 && x.size(2) == 3
                                          : (x.size(1) == 3 || x.size(1) == 4) && x.size(2) == 4);
  if (!ok_rows)
    throw Error(std::string(what) + " must be " + (expected == "3x3" ? "(N, 3, 3)" : "(N, 4, 4) or (N, 3, 4)") +
                " for the N = " + std::to_string(n) + " images, got shape " + shape_str(t.shape()));
  DA3_CHECK(dtype_is_float(x.dtype()), std::string(what) + " must be floating point, got " + dtype_name(x.dtype()));
  Tensor d = x.to(DType::F64).contiguous();
  const double* p = d.data_as<double>();
  for (int64_t i = 0; i < d.numel(); ++i)
    DA3_CHECK(std::isfinite(p[i]), std::string(what) + " contain a non-finite value (view " +
                                       std::to_string(i / (d.size(1) * d.size(2))) + ")");
  return d;
}

void attach_cameras(PreprocessedBatch& b, const CameraInputs& cams) {
  const int64_t n = static_cast<int64_t>(b.views.size());
  if (cams.extrinsics.defined()) {
    DA3_CHECK(cams.intrinsics.defined(), "extrinsics were given without intrinsics; pose-conditioned inference needs both");
    const Tensor e = camera_matrices(cams.extrinsics, n, "extrinsics", "4x4");
    b.extrinsics = Tensor::zeros({1, n, 4, 4});
    float* out = b.extrinsics.data_as<float>();
    const double* in = e.data_as<double>();
    const int64_t rows = e.size(1);
    for (int64_t v = 0; v < n; ++v) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < 4; ++c) out[v * 16 + r * 4 + c] = static_cast<float>(in[(v * rows + r) * 4 + c]);
      if (rows == 3) out[v * 16 + 15] = 1.f;
      else
        DA3_CHECK(in[v * 16 + 12] == 0 && in[v * 16 + 13] == 0 && in[v * 16 + 14] == 0 && in[v * 16 + 15] == 1,
                  "extrinsics[" + std::to_string(v) + "] must have (0, 0, 0, 1) as its last row");
    }
  }
  if (cams.intrinsics.defined()) {
    const Tensor k = camera_matrices(cams.intrinsics, n, "intrinsics", "3x3");
    b.intrinsics = Tensor::empty({1, n, 3, 3});
    float* out = b.intrinsics.data_as<float>();
    const double* in = k.data_as<double>();
    for (int64_t v = 0; v < n; ++v) {
      const double* K = in + v * 9;
      DA3_CHECK(K[0] > 0 && K[4] > 0, "intrinsics[" + std::to_string(v) + "] must have positive fx and fy (pixels)");
      const ViewInfo& vi = b.views[static_cast<size_t>(v)];
      // _resize_ixt scales rows 0 and 1 by the size ratios; _crop_ixt and the batch
      // unification shift cx, cy by the crops.
      const double sx = vi.scale_x(), sy = vi.scale_y();
      for (int c = 0; c < 3; ++c) {
        out[v * 9 + c] = static_cast<float>(K[c] * sx);
        out[v * 9 + 3 + c] = static_cast<float>(K[3 + c] * sy);
        out[v * 9 + 6 + c] = static_cast<float>(K[6 + c]);
      }
      out[v * 9 + 2] = static_cast<float>(K[2] * sx - vi.crop_x);
      out[v * 9 + 5] = static_cast<float>(K[5] * sy - vi.crop_y);
    }
  }
}

PreprocessedBatch assemble(std::vector<Processed>& items, const CameraInputs& cams, int threads) {
  unify(items);
  const int64_t n = static_cast<int64_t>(items.size());
  const int H = items[0].view.height, W = items[0].view.width;
  PreprocessedBatch b;
  b.image = Tensor::empty({1, n, 3, H, W});
  b.processed_images = Tensor::empty({n, H, W, 3}, DType::U8);
  const auto& lut = pipeline::normalize_tables();
  float* img = b.image.data_as<float>();
  uint8_t* u8 = b.processed_images.data_as<uint8_t>();
  const int64_t plane = int64_t(H) * W;
  pipeline::parallel_for(n, threads, [&](int64_t v) {
    const uint8_t* src = items[static_cast<size_t>(v)].rgb.pixels.data();
    float* dst = img + v * 3 * plane;
    uint8_t* back = u8 + v * plane * 3;
    for (int64_t i = 0; i < plane; ++i)
      for (int c = 0; c < 3; ++c) {
        const uint8_t level = src[i * 3 + c];
        dst[c * plane + i] = lut.normalized[c][level];
        back[i * 3 + c] = lut.round_trip[c][level];
      }
  });
  for (auto& p : items) b.views.push_back(p.view);
  attach_cameras(b, cams);
  return b;
}

int worker_count(const PreprocessOptions& o, size_t n) {
  const int t = o.threads > 0 ? o.threads : num_threads();
  return static_cast<int>(std::min<size_t>(std::max(t, 1), n));
}

void check_count(size_t n) {
  if (n == 0) throw Error("no images to preprocess");
}

}  // namespace

PreprocessedBatch preprocess(const std::vector<std::string>& paths, const PreprocessOptions& o,
                             const CameraInputs& cams) {
  check_count(paths.size());
  std::vector<Processed> items(paths.size());
  const int threads = worker_count(o, paths.size());
  pipeline::parallel_for(static_cast<int64_t>(paths.size()), threads, [&](int64_t i) {
    const std::string& path = paths[static_cast<size_t>(i)];
    const io::DecodedImage d = io::decode_rgb(io::read_file_bytes(path, "image"), path, o.limits);
    items[static_cast<size_t>(i)] = process_one(d.rgb.view(), d.orig_width, d.orig_height, d.decoded_scale, path, o);
  });
  return assemble(items, cams, threads);
}

PreprocessedBatch preprocess(const std::vector<RgbImage>& images, const PreprocessOptions& o,
                             const CameraInputs& cams) {
  check_count(images.size());
  std::vector<Processed> items(images.size());
  const int threads = worker_count(o, images.size());
  pipeline::parallel_for(static_cast<int64_t>(images.size()), threads, [&](int64_t i) {
    const RgbImage& im = images[static_cast<size_t>(i)];
    std::string name = im.name;
    if (name.empty()) name = std::string("#").append(std::to_string(i));
    DA3_CHECK(im.width > 0 && im.height > 0 && im.rgb.size() == size_t(im.width) * im.height * 3,
              "image '" + name + "': " + std::to_string(im.rgb.size()) + " bytes do not hold " +
                  std::to_string(im.width) + "x" + std::to_string(im.height) + " RGB pixels");
    const io::ImageView rgb{im.rgb.data(), im.width, im.height, 3};
    items[static_cast<size_t>(i)] = process_one(rgb, im.width, im.height, 1, name, o);
  });
  return assemble(items, cams, threads);
}

}  // namespace da3
