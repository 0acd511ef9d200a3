// The whole library path on the tiny any-view fixture checkpoint: images -> preprocess ->
// Model::forward -> postprocess -> every export. Checks the pieces fit (shapes, views, files);
// numeric parity of each piece is tested against the reference elsewhere.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "da3/model.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"
#include "test_export_readers.hpp"
#include "test_util.hpp"

namespace {

TEST(PipelineEndToEnd, ImagesToEveryExportWithTinyAnyviewModel) {
  const std::string fx = da3::test::fixtures_dir();
  const da3::Model model = da3::Model::load(fx + "/tiny-anyview");
  // Landscape JPEG and portrait PNG: different processed sizes, unified by centre crop.
  da3::PreprocessOptions o;
  o.process_res = 112;
  const auto paths = da3::collect_image_paths({fx + "/pipeline/images/c_port_210x300.jpg",
                                               fx + "/pipeline/images/d_land_300x190.png",
                                               fx + "/pipeline/images/k_texture_320x240.jpg"});
  const da3::PreprocessedBatch batch = da3::preprocess(paths, o);
  ASSERT_EQ(batch.image.shape(), (da3::Shape{1, 3, 3, 70, 84}));
  const da3::Prediction p = model.forward(batch.image);
  const da3::InferenceResult r = da3::postprocess(p, batch);
  ASSERT_EQ(r.depth.shape(), (da3::Shape{3, 70, 84}));
  ASSERT_TRUE(r.extrinsics.defined());

  da3::test::TempDir t;
  const auto formats = da3::parse_export_formats("npz,mini_npz,depth_png,depth16,ply,glb,colmap");
  const auto written = da3::export_results(r, t.path().string(), formats);
  EXPECT_EQ(written.size(), formats.size());
  const auto z = da3::io::read_npz(t.file("results.npz"));
  EXPECT_EQ(z.at("image").shape(), (da3::Shape{3, 70, 84, 3}));
  EXPECT_EQ(z.at("extrinsics").shape(), (da3::Shape{3, 3, 4}));
  const auto glb = da3::test::parse_glb(da3::test::slurp(t.file("scene.glb")));
  EXPECT_EQ(glb.prims.size(), 4u) << "points and three cameras";
  const auto colmap = da3::test::parse_colmap_text(t.file("colmap/text"));
  ASSERT_EQ(colmap.cameras.size(), 3u);
  EXPECT_EQ(colmap.cameras.at(1).w, 210) << "COLMAP cameras are at the source image's size";
  EXPECT_EQ(colmap.images.at(2).name, "d_land_300x190.png");
}

// The acceptance comparison of issue 6: our pipeline against DepthAnything3.inference() run in
// fp32 on the same files (tests/fixtures/pipeline/end_to_end, make_pipeline_fixtures.py):
// depth, conf, extrinsics and intrinsics within 1e-4 (norm-wise relative), processed images
// within one level.
TEST(PipelineEndToEnd, MatchesReferenceInference) {
  const std::string fx = da3::test::fixtures_dir();
  std::ifstream f(fx + "/pipeline/end_to_end.json");
  const auto cases = nlohmann::json::parse(f);
  const da3::Model model = da3::Model::load(fx + "/tiny-anyview");
  for (const auto& c : cases) {
    const std::string name = c["name"];
    std::vector<std::string> paths;
    for (const auto& img : c["images"]) paths.push_back(fx + "/pipeline/images/" + img.get<std::string>());
    da3::PreprocessOptions o;
    o.process_res = c["process_res"];
    o.method = da3::parse_resize_method(c["method"]);
    const auto ref = da3::io::read_npz(fx + "/pipeline/end_to_end/" + name + ".npz");
    da3::CameraInputs cams;
    if (c["posed"]) {
      cams.extrinsics = ref.at("extrinsics_in");
      cams.intrinsics = ref.at("intrinsics_in");
    }
    const da3::PreprocessedBatch batch = da3::preprocess(paths, o, cams);
    da3::ForwardOptions f;
    if (c["posed"]) {
      f.extrinsics = da3::normalize_input_extrinsics(batch.extrinsics);
      f.intrinsics = batch.intrinsics;
    }
    da3::InferenceResult r = da3::postprocess(model.forward(batch.image, f), batch);
    da3::align_to_input_cameras(r, batch);
    for (const auto& [key, ours] : std::vector<std::pair<std::string, da3::Tensor>>{
             {"depth", r.depth}, {"conf", r.conf}, {"extrinsics", r.extrinsics}, {"intrinsics", r.intrinsics}}) {
      ASSERT_EQ(ours.shape(), ref.at(key).shape()) << name << " " << key;
      const double err = da3::test::rel_err(ours, ref.at(key));
      std::printf("[end-to-end] %-17s %-10s relative error %.2e\n", name.c_str(), key.c_str(), err);
      EXPECT_LT(err, 1e-4) << name << " " << key;
    }
    const da3::Tensor& img = ref.at("processed_images");
    ASSERT_EQ(r.processed_images.shape(), img.shape());
    int worst = 0;
    int64_t differ = 0;
    for (int64_t i = 0; i < img.numel(); ++i) {
      const int d = std::abs(int(r.processed_images.data_as<uint8_t>()[i]) - int(img.data_as<uint8_t>()[i]));
      worst = std::max(worst, d);
      differ += d != 0;
    }
    std::printf("[end-to-end] %-17s images     max |diff| %d level, %lld of %lld values differ\n", name.c_str(), worst,
                (long long)differ, (long long)img.numel());
    EXPECT_LE(worst, 1) << name;
  }
}

}  // namespace
