// Opt-in: full-size presets against the reference. Inputs come from
//   tools/reference/.venv/bin/python tools/reference/make_checkpoint.py --preset da3-small \
//       --out models/random-da3-small --case 378x504x1 --case 280x504x2
// (any preset, any cases); this test runs every models/random-*/forward_*.safetensors it finds
// (or under $DA3_FULL_MODELS_DIR) and skips, saying so, when there are none.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "test_util.hpp"

using namespace da3;
namespace fs = std::filesystem;

TEST(FullPresets, MatchReferenceWhenGenerated) {
  const char* env = std::getenv("DA3_FULL_MODELS_DIR");
  const fs::path root = env ? fs::path(env) : fs::path(DA3_FIXTURES_DIR).parent_path().parent_path() / "models";
  std::vector<fs::path> cases;
  if (fs::is_directory(root))
    for (const auto& d : fs::directory_iterator(root))
      if (d.is_directory() && d.path().filename().string().rfind("random-", 0) == 0)
        for (const auto& f : fs::directory_iterator(d.path()))
          if (f.path().filename().string().rfind("forward_", 0) == 0) cases.push_back(f.path());
  if (cases.empty())
    GTEST_SKIP() << "no full-size reference outputs under " << root
                 << " (opt-in: see tools/reference/make_checkpoint.py)";
  for (const fs::path& c : cases) {
    SCOPED_TRACE(c.string());
    SafetensorsFile ref = SafetensorsFile::open(c.string());
    Model m = Model::load(c.parent_path().string());
    const Prediction p = m.forward(ref.tensor("image"));
    EXPECT_LT(test::rel_err(p.depth, ref.tensor("depth")), 1e-4);
    if (ref.contains("depth_conf")) EXPECT_LT(test::rel_err(p.depth_conf, ref.tensor("depth_conf")), 1e-4);
    if (ref.contains("pred_extrinsics")) EXPECT_LT(test::rel_err(p.extrinsics, ref.tensor("pred_extrinsics")), 1e-4);
    if (ref.contains("pred_intrinsics")) EXPECT_LT(test::rel_err(p.intrinsics, ref.tensor("pred_intrinsics")), 1e-4);
    if (ref.contains("sky")) EXPECT_LT(test::rel_err(p.sky, ref.tensor("sky")), 1e-4);
  }
}
