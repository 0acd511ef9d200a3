// Camera decoder and the pose-encoding transforms against the reference fixtures.
#include <gtest/gtest.h>

#include <filesystem>

#include "da3/checkpoint.hpp"
#include "da3/config.hpp"
#include "da3/safetensors.hpp"
#include "model/cam_dec.hpp"
#include "model/utils/transform.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

constexpr double kTol = 1e-4;

SafetensorsFile open_case(const std::string& fixture, const std::string& c) {
  const std::string f = test::fixtures_dir() + "/" + fixture + "/forward_" + c + ".safetensors";
  if (!std::filesystem::exists(f)) throw Error("fixture missing: " + f);
  return SafetensorsFile::open(f);
}

void check_decoder(const std::string& fixture, const std::string& c) {
  const std::string dir = test::fixtures_dir() + "/" + fixture;
  Checkpoint ckpt = Checkpoint::open(dir);
  const ModelConfig cfg = parse_model_config(ckpt.config_json());
  ASSERT_TRUE(cfg.net.cam_dec.has_value());
  model::CameraDec dec(model::Weights(ckpt).child("model").child("cam_dec"), cfg.net.cam_dec->dim_in);
  SafetensorsFile ref = open_case(fixture, c);
  const Tensor pose = dec.forward(ref.tensor("backbone.out.3.token0"));
  EXPECT_LT(test::rel_err(pose, ref.tensor("cam_dec.pose_enc")), kTol);
  Tensor c2w, K;
  const Tensor image = ref.tensor("image");
  model::pose_encoding_to_extri_intri(ref.tensor("cam_dec.pose_enc"), image.size(3), image.size(4), c2w, K);
  EXPECT_LT(test::rel_err(model::affine_inverse(c2w), ref.tensor("pred_extrinsics")), kTol);
  EXPECT_LT(test::rel_err(K, ref.tensor("pred_intrinsics")), kTol);
}

}  // namespace

TEST(Camera, DecoderOneView) { check_decoder("tiny-anyview", "1view_112x84"); }
TEST(Camera, DecoderFourViews) { check_decoder("tiny-anyview", "4view_56x70"); }
TEST(Camera, DecoderGiantLike) { check_decoder("tiny-giant-like", "3view_56x70"); }

TEST(Camera, PoseEncodingOfInputCameras) {
  SafetensorsFile ref = open_case("tiny-anyview", "3view_posed_70x56");
  const Tensor image = ref.tensor("image");
  const Tensor enc = model::extri_intri_to_pose_encoding(model::affine_inverse(ref.tensor("extrinsics")),
                                                         ref.tensor("intrinsics"), image.size(3), image.size(4));
  EXPECT_LT(test::rel_err(enc, ref.tensor("cam_enc.pose_encoding")), kTol);
}

TEST(Camera, AffineInverseRoundTrips) {
  SafetensorsFile ref = open_case("tiny-anyview", "3view_posed_70x56");
  const Tensor e = ref.tensor("extrinsics");
  EXPECT_LT(test::rel_err(model::affine_inverse(model::affine_inverse(e)), e), 1e-6);
}
