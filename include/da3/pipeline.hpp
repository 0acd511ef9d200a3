#pragma once
// Images in, files out: the steps around the network, as the reference's
// depth_anything_3/utils/io/input_processor.py, output_processor.py, api.py and utils/export/
// perform them.
//
//   inputs --collect_image_paths--> paths --preprocess--> PreprocessedBatch
//     --Model::forward--> Prediction --postprocess--> InferenceResult --export_results--> files
//
// Every file written here appears only when complete (temporary name, fsync, rename).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "da3/model.hpp"
#include "da3/tensor.hpp"

namespace da3 {

// ---------------------------------------------------------------------------------------------
// Inputs

// Files, directories (their images, sorted by name, not recursive) and glob patterns, in the
// order given. Throws da3::Error for a missing path, a pattern that matches nothing, a directory
// without images, or an empty result.
std::vector<std::string> collect_image_paths(const std::vector<std::string>& inputs);

// An 8-bit RGB image in memory (row-major, 3 bytes a pixel), e.g. a decoded video frame.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  std::string name;  // used in messages and as the COLMAP image name; may be empty
};

// Limits on what is accepted, with the reasons in docs/cli.md ("Input images").
struct ImageLimits {
  // Smallest side accepted: one ViT patch. A smaller image holds less than one patch of data
  // along that side, and everything the network sees there would be interpolation.
  int min_side = 14;
  // Largest image decoded at full size (100 Mpx = 300 MB of RGB). Larger JPEGs are decoded at
  // 1/2, 1/4 or 1/8 scale by libjpeg (cheap, no full-size buffer); larger images of other
  // formats are refused, since their decoders always allocate the full image.
  int64_t max_decode_pixels = 100'000'000;
  // Largest progressive (or multi-scan) JPEG accepted, by its declared size. libjpeg keeps the
  // whole image's DCT coefficients in memory for those (2 bytes per pixel and component, at
  // full size even when decoding at 1/8), so DCT scaling does not help: 50 Mpx is up to 300 MB
  // of coefficients. A 58 KB file declaring 65500x65500 would otherwise take 12.8 GB.
  int64_t max_multiscan_jpeg_pixels = 50'000'000;
};

// Loads an image as RGB the way the reference does (PIL's Image.open(path).convert("RGB")):
// EXIF orientation is ignored, alpha dropped, grey replicated. The header is read first, so
// bad sizes are refused before any pixel buffer is allocated. `decoded_scale` (if given)
// receives the reduction libjpeg applied (1 = full size; 2, 4 or 8 for huge JPEGs), and the
// size before reduction is then width*scale by height*scale (rounded up by libjpeg).
RgbImage load_image(const std::string& path, const ImageLimits& limits = {}, int* decoded_scale = nullptr);

// ---------------------------------------------------------------------------------------------
// Preprocessing (InputProcessor)

enum class ResizeMethod { UpperBoundResize, LowerBoundResize, UpperBoundCrop, LowerBoundCrop };
// "upper_bound_resize", ... ; an unknown name throws, listing the known ones.
ResizeMethod parse_resize_method(const std::string& name);
const char* resize_method_name(ResizeMethod m);

// The largest process_res accepted: 8x the trained 504, already ~12 Mpx per view (at 4:3) and
// many GB of activations; beyond it the sizes only end in an allocation failure.
constexpr int kMaxProcessRes = 4096;

struct PreprocessOptions {
  int process_res = 504;  // in [14, kMaxProcessRes]
  ResizeMethod method = ResizeMethod::UpperBoundResize;
  int threads = 0;  // images decoded and resized at once; 0: da3::num_threads()
  ImageLimits limits;
};

// Optional input cameras, one per image: world-to-camera extrinsics (N, 4, 4) or (N, 3, 4) and
// pixel intrinsics (N, 3, 3) of the ORIGINAL images. Any float dtype; a leading batch
// dimension of 1 is accepted.
struct CameraInputs {
  Tensor extrinsics;
  Tensor intrinsics;
};

// How one processed view relates to its source image. A processed pixel (u, v) comes from
// source position ((u + crop_x) / scale_x, (v + crop_y) / scale_y), the convention the
// reference uses to adjust intrinsics (K scaled by the size ratio, cx/cy shifted by crops).
struct ViewInfo {
  std::string source;             // path, or RgbImage::name
  int orig_width = 0, orig_height = 0;      // source image size (before any decode reduction)
  int resized_width = 0, resized_height = 0;  // after all resizing, before any crop
  int crop_x = 0, crop_y = 0;     // total crop offset inside the resized image
  int width = 0, height = 0;      // processed size (the network's input size)
  int decoded_scale = 1;          // 2, 4, 8: huge JPEG decoded reduced (results then deviate slightly)
  double scale_x() const { return double(resized_width) / orig_width; }
  double scale_y() const { return double(resized_height) / orig_height; }
};

struct PreprocessedBatch {
  Tensor image;             // (1, N, 3, H, W) f32, ImageNet-normalised: the network input
  Tensor processed_images;  // (N, H, W, 3) u8: the reference's `processed_images` (see below)
  Tensor extrinsics;        // (1, N, 4, 4) f32 world-to-camera, as given (undefined if none)
  Tensor intrinsics;        // (1, N, 3, 3) f32, adjusted to the processed views (undefined if none)
  std::vector<ViewInfo> views;
};
// `processed_images` are what the reference derives from the normalised tensor for its exports:
// x * std + mean, clipped, * 255, truncated to uint8, which lowers some levels by one. Kept
// identical so that the npz `image` key and point colours match the reference exactly.

PreprocessedBatch preprocess(const std::vector<std::string>& paths, const PreprocessOptions& options = {},
                             const CameraInputs& cameras = {});
PreprocessedBatch preprocess(const std::vector<RgbImage>& images, const PreprocessOptions& options = {},
                             const CameraInputs& cameras = {});

// The processed size of a w x h image (width, height), before batch unification: the size
// arithmetic of preprocess() alone, for planning and tests.
struct ProcessedSize {
  int resized_width, resized_height;  // after all resizing
  int crop_x, crop_y;                 // crop offset (crop methods)
  int width, height;                  // final
};
ProcessedSize processed_size(int width, int height, int process_res, ResizeMethod method);

// ---------------------------------------------------------------------------------------------
// Post-processing (OutputProcessor + api.py's additions)

// What the reference's `Prediction` holds after inference(), batch dimension dropped.
struct InferenceResult {
  Tensor depth;             // (N, H, W) f32
  Tensor conf;              // (N, H, W) f32 (undefined for presets without confidence)
  Tensor extrinsics;        // (N, 3, 4) f32 world-to-camera (undefined without a camera head/poses)
  Tensor intrinsics;        // (N, 3, 3) f32 pixels of the processed views
  Tensor sky;               // (N, H, W) bool: sky >= 0.5 (undefined without a sky head)
  Tensor processed_images;  // (N, H, W, 3) u8
  bool is_metric = false;
  bool has_scale_factor = false;
  float scale_factor = 1.f;
  std::vector<ViewInfo> views;
  // ForwardOptions::export_feat_layers' features, "feat_layer_<i>" -> (N, H/14, W/14, C) f32,
  // in input order (postprocess undoes the reference-first order some come in).
  std::map<std::string, Tensor> features;
  // ForwardOptions::infer_gs: the world-space Gaussians as Prediction::gs_* holds them (batch
  // dimension kept: means (1, G, 3), ..., G = N·H·W in view order); undefined otherwise. Input
  // poses do not move them: the model computed them at the given poses' scale.
  Tensor gs_means, gs_scales, gs_rotations, gs_harmonics, gs_opacities;
};

InferenceResult postprocess(const Prediction& prediction, const PreprocessedBatch& batch);

// Input poses (api.py): the network takes them normalised (`_normalize_extrinsics`: relative
// to view 0, translations divided by the median camera distance, at least 0.1), and the
// result is then expressed in the input's frame and scale
// (`_align_to_input_extrinsics_intrinsics`): extrinsics and intrinsics become the given ones,
// depth is divided by the Umeyama scale between the predicted and the given camera centres
// (with RANSAC from 10 views on; the reference's random subsets come from numpy, ours from
// `seed`, so there the two agree in kind, not bit for bit).
//   batch = preprocess(paths, options, cameras);
//   ForwardOptions f; f.extrinsics = normalize_input_extrinsics(batch.extrinsics);
//   f.intrinsics = batch.intrinsics;
//   InferenceResult r = postprocess(model.forward(batch.image, f), batch);
//   align_to_input_cameras(r, batch);
Tensor normalize_input_extrinsics(const Tensor& extrinsics);  // (1, N, 4, 4) -> (1, N, 4, 4) f32
void align_to_input_cameras(InferenceResult& result, const PreprocessedBatch& batch, uint64_t seed = 42);

// The depth / confidence / sky maps of one view at its source image's size, and the
// intrinsics for that size. Areas a crop method cut away have no prediction: depth and
// confidence 0 there, sky false.
struct OriginalSizeView {
  Tensor depth;       // (H0, W0) f32, bilinear
  Tensor conf;        // (H0, W0) f32, bilinear (undefined if the result has none)
  Tensor sky;         // (H0, W0) bool, nearest (undefined if none)
  Tensor intrinsics;  // (3, 3) f32 (undefined if none)
};
OriginalSizeView to_original_size(const InferenceResult& result, int64_t view);
// View `view`'s intrinsics in pixels of its source image (what to_original_size gives, without
// resizing any map): the inverse of preprocess's adjustment.
Tensor intrinsics_at_source(const InferenceResult& result, int64_t view);
// The one source size (width, height) of every view, for --original-size into npz; throws,
// naming two different sizes, when the views differ.
std::pair<int, int> common_source_size(const std::vector<ViewInfo>& views);

// ---------------------------------------------------------------------------------------------
// Exports

enum class ExportFormat { Npz, MiniNpz, DepthPng, Depth16, Ply, Glb, Colmap, DepthVis, FeatVis, GsPly, Splat, GsVideo };
// Names joined by ',' or '-' (the official CLI's "glb-npz"): npz, mini_npz, depth_png, depth16,
// ply, glb, colmap, depth_vis, feat_vis, gs_ply, splat, gs_video (the last three need the Gaussians:
// ForwardOptions::infer_gs). An unknown name throws, listing the known ones;
// duplicates are dropped.
std::vector<ExportFormat> parse_export_formats(const std::string& list);
const char* export_format_name(ExportFormat f);

struct ExportOptions {
  // Point exports (ply, glb), as the reference's export_to_glb: keep pixels whose confidence
  // is >= clamp(conf_thresh, percentile(conf, conf_thresh_percentile),
  // percentile(conf, ensure_thresh_percentile)); colmap uses percentile(conf,
  // conf_thresh_percentile) alone, as export_to_colmap does.
  float conf_thresh = 1.05f;
  float conf_thresh_percentile = 40.f;
  float ensure_thresh_percentile = 90.f;
  int64_t num_max_points = 1'000'000;  // ply, glb: random subset above this (seeded, repeatable)
  uint64_t seed = 0;
  bool show_cameras = true;   // glb: camera frustums
  float camera_size = 0.03f;  // glb: frustum size, fraction of the scene's 5-95 % diagonal
  // depth_png, depth16: each view's depth at its source image's size (to_original_size);
  // npz: depth_original / conf_original (N, H0, W0) beside the reference's keys, which needs
  // every view to have the same source size.
  bool original_size = false;
  // feat_vis: also a video per feature layer (the views are a video's frames), at this rate.
  bool feat_vis_video = false;
  double feat_vis_fps = 15;
};

// Writes each format under `out_dir` (created if needed) and returns the paths written:
//   npz        out_dir/results.npz          mini_npz  out_dir/results_mini.npz
//   depth_png  out_dir/depth_png/0000_<stem>.png
//   depth16    out_dir/depth16/0000_<stem>.png + 0000_<stem>.json  (view_file_stem below)
//   ply        out_dir/points.ply           glb       out_dir/scene.glb
//   colmap     out_dir/colmap/sparse/0/*.bin and out_dir/colmap/text/*.txt
//   depth_vis  out_dir/depth_vis/0000_<stem>.png
//   feat_vis   out_dir/feat_vis/feat_layer_<i>/0000_<stem>.png (+ feat_layer_<i>.avi)
//   gs_ply     out_dir/gs_ply/0000.ply (the reference's name)   splat  out_dir/scene.splat
//   gs_video   out_dir/gs_video/0000.avi (rendered on the CPU along the input cameras)
// Directories of files are built under a temporary name and renamed into place whole.
std::vector<std::string> export_results(const InferenceResult& result, const std::string& out_dir,
                                        const std::vector<ExportFormat>& formats,
                                        const ExportOptions& options = {});

// The name of view `v`'s per-view files without extension: "<4-digit index>_<source stem>"
// ("0000_canyon" for canyon.jpg), or the index alone when the view has no source name.
std::string view_file_stem(const InferenceResult& result, int64_t v);

// The single exports behind export_results (same files, explicit paths).
void export_npz(const InferenceResult& result, const std::string& path,
                const ExportOptions& options = {});                             // reference `npz`
void export_mini_npz(const InferenceResult& result, const std::string& path);  // reference `mini_npz`
// The Gaussians of a result made with infer_gs (throws naming --gaussians otherwise): the
// reference's gs_ply file, and the same Gaussians as a .splat (pipeline/export_gs_ply.hpp).
void export_gs_ply(const InferenceResult& result, const std::string& path);
void export_gs_splat(const InferenceResult& result, const std::string& path);
// A preview video of those Gaussians (uncompressed AVI, 24 fps), rendered on the CPU
// (pipeline/gs_render.hpp) from cameras interpolated between the result's cameras (one view: a
// small circle around it), at the processed image size.
void export_gs_video(const InferenceResult& result, const std::string& path);
void export_depth_png(const InferenceResult& result, const std::string& dir, const ExportOptions& options = {});
void export_depth16(const InferenceResult& result, const std::string& dir, const ExportOptions& options = {});
void export_ply(const InferenceResult& result, const std::string& path, const ExportOptions& options = {});
void export_glb(const InferenceResult& result, const std::string& path, const ExportOptions& options = {});
void export_colmap(const InferenceResult& result, const std::string& dir, const ExportOptions& options = {});
// The reference's depth_vis: per view, the processed image beside its coloured depth
// (colorize_depth), one (H, 2W) RGB PNG in `dir`.
void export_depth_vis(const InferenceResult& result, const std::string& dir);
// The reference's feat_vis: per feature layer of result.features, a PCA of the features to RGB
// (one basis and one percentile range for all views, so colours agree across views), each view
// as its image beside the PCA map, in dir/feat_layer_<i>/; with options.feat_vis_video also
// dir/feat_layer_<i>.avi of those frames. Throws if the result has no features.
void export_feat_vis(const InferenceResult& result, const std::string& dir, const ExportOptions& options = {});

// The reference's visualize_depth: inverse depth, 2-98 % percentile range, reversed Spectral
// colormap. depth (H, W) f32 -> (H, W, 3) u8 RGB.
Tensor colorize_depth(const Tensor& depth);

}  // namespace da3
