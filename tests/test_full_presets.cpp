// Opt-in: full-size presets against the reference. Inputs come from
//   tools/reference/.venv/bin/python tools/reference/make_checkpoint.py --preset da3-small \
//       --out models/random-da3-small --case 378x504x1 --case 280x504x2
// (any preset, any cases); with $DA3_FULL_MODELS_DIR set (e.g. to models), this test runs every
// $DA3_FULL_MODELS_DIR/random-*/forward_*.safetensors. Without it, it skips, saying so: all
// presets take ~13 min, too long for `make test` on a machine that happens to hold the files.
//
// $DA3_FULL_MODELS_FILTER (comma-separated substrings of "random-<preset>/forward_<case>") runs
// only the matching cases: a giant checkpoint takes minutes to load and run, so one preset or
// case can be rechecked without moving files aside. All seven presets with the cases of
// docs/checkpoints.md take ~13 min on 2 cores, beyond ctest's 600 s per test (tests/CMakeLists.txt):
// run the binary itself, as there, or filter.
//
// Every comparison prints one "[full-parity]" line with the measured relative error, so the
// numbers can be written down (docs/checkpoints.md) and not just pass/fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <vector>

#include "da3/model.hpp"
#include "da3/safetensors.hpp"
#include "test_util.hpp"

using namespace da3;
namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-4;  // issue #5: norm-wise relative, fp32

std::vector<std::string> filters() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("DA3_FULL_MODELS_FILTER")) {
    std::stringstream ss(env);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool selected(const fs::path& f, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return true;
  const std::string id = f.parent_path().filename().string() + "/" + f.filename().string();
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) { return id.find(w) != std::string::npos; });
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Norm-wise relative error over the pixels not in `skip` (same shape as a, b; nonzero = skip).
double rel_err_masked(const Tensor& a, const Tensor& b, const std::vector<uint8_t>& skip) {
  if (a.shape() != b.shape() || static_cast<int64_t>(skip.size()) != b.numel()) return INFINITY;
  const Tensor x = a.to(DType::F64), y = b.to(DType::F64);
  const double* p = x.data_as<double>();
  const double* q = y.data_as<double>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!skip[i]) {
      num += (p[i] - q[i]) * (p[i] - q[i]);
      den += q[i] * q[i];
    }
  if (std::isnan(num)) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// One line per tensor, then the bound; a missing output on our side reads as +inf.
void check(const std::string& id, const char* name, double err) {
  std::printf("[full-parity] %-48s %-16s rel_err %.3e\n", id.c_str(), name, err);
  std::fflush(stdout);
  EXPECT_LT(err, kTol) << id << " " << name;
}

}  // namespace

TEST(FullPresets, MatchReferenceWhenGenerated) {
  const char* env = std::getenv("DA3_FULL_MODELS_DIR");
  if (!env || !*env)
    GTEST_SKIP() << "opt-in: set DA3_FULL_MODELS_DIR (e.g. to models) after generating checkpoints with "
                    "tools/reference/make_checkpoint.py; see docs/checkpoints.md";
  const fs::path root = env;
  const std::vector<std::string> wanted = filters();
  // Grouped by checkpoint directory (sorted, for a stable order), so each model loads once.
  std::map<fs::path, std::vector<fs::path>> cases;
  if (fs::is_directory(root))
    for (const auto& d : fs::directory_iterator(root))
      if (d.is_directory() && d.path().filename().string().rfind("random-", 0) == 0)
        for (const auto& f : fs::directory_iterator(d.path()))
          if (f.path().filename().string().rfind("forward_", 0) == 0 && selected(f.path(), wanted))
            cases[d.path()].push_back(f.path());
  if (cases.empty())
    GTEST_SKIP() << "no full-size reference outputs under " << root
                 << (wanted.empty() ? "" : " matching $DA3_FULL_MODELS_FILTER")
                 << " (opt-in: see tools/reference/make_checkpoint.py)";
  for (auto& [dir, files] : cases) {
    std::sort(files.begin(), files.end());
    auto t0 = std::chrono::steady_clock::now();
    Model m = Model::load(dir.string());
    std::printf("[full-parity] %s: loaded in %.0f ms\n", dir.filename().string().c_str(), ms_since(t0));
    for (const fs::path& c : files) {
      SCOPED_TRACE(c.string());
      const std::string id = dir.filename().string() + "/" + c.stem().string();
      SafetensorsFile ref = SafetensorsFile::open(c.string());
      t0 = std::chrono::steady_clock::now();
      ForwardOptions fo;
      fo.infer_gs = ref.contains("gs_means");  // written by make_checkpoint.py --gs
      const Prediction p = m.forward(ref.tensor("image"), fo);
      std::printf("[full-parity] %s: forward %.0f ms\n", id.c_str(), ms_since(t0));
      // Sky is a hard decision (sky < 0.3 is not sky) that rewrites depth (and, nested, depth_conf):
      // a pixel whose reference sky value lies within rounding of 0.3 may land on the other side
      // here, and then its depth differs by the whole gap to the sky-fill value. At full size a
      // few such pixels are likely (random-da3mono-large/504x378x1 has one at 0.30000037 vs our
      // 0.29999855, i.e. 1.8e-6 apart, which alone makes depth 2.7e-3 off). Those pixels (reference
      // sky within kSkyBand of 0.3) are left out of depth/depth_conf and counted; the sky map itself
      // is still compared everywhere, and every other sky pixel checks the fill value. The
      // unmasked error is printed too.
      constexpr float kSkyBand = 1e-4f;
      const char* sky_name = ref.contains("sky") ? "sky" : ref.contains("metric.sky") ? "metric.sky" : nullptr;
      std::vector<uint8_t> near_threshold(static_cast<size_t>(ref.tensor("depth").numel()), 0);
      int64_t n_near = 0;
      if (sky_name) {
        const Tensor s = ref.tensor(sky_name).contiguous();
        for (int64_t i = 0; i < s.numel(); ++i)
          n_near += near_threshold[i] = std::abs(s.data_as<float>()[i] - 0.3f) < kSkyBand;
        std::printf("[full-parity] %s: %lld pixel(s) with |%s - 0.3| < %.0e left out of depth%s\n", id.c_str(),
                    static_cast<long long>(n_near), sky_name, kSkyBand, ref.contains("depth_conf") ? ", depth_conf" : "");
        std::printf("[full-parity] %-48s %-16s rel_err %.3e (all pixels, not checked)\n", id.c_str(), "depth",
                    test::rel_err(p.depth, ref.tensor("depth")));
      }
      check(id, "depth", rel_err_masked(p.depth, ref.tensor("depth"), near_threshold));
      if (ref.contains("depth_conf"))
        check(id, "depth_conf", rel_err_masked(p.depth_conf, ref.tensor("depth_conf"), near_threshold));
      if (ref.contains("pred_extrinsics"))
        check(id, "extrinsics", test::rel_err(p.extrinsics, ref.tensor("pred_extrinsics")));
      if (ref.contains("pred_intrinsics"))
        check(id, "intrinsics", test::rel_err(p.intrinsics, ref.tensor("pred_intrinsics")));
      if (ref.contains("sky")) check(id, "sky", test::rel_err(p.sky, ref.tensor("sky")));
      if (ref.contains("scale_factor")) {  // nested: written by make_checkpoint.py with is_metric
        const double want = ref.tensor("scale_factor").data_as<float>()[0];
        check(id, "scale_factor", std::abs(p.scale_factor - want) / std::abs(want));
        if (ref.contains("is_metric")) EXPECT_EQ(p.is_metric, ref.tensor("is_metric").data_as<float>()[0] != 0.f) << id;
      }
      if (fo.infer_gs) {  // the Gaussians, world space (nested: before the metric scaling)
        const std::pair<const char*, const Tensor*> gs[] = {{"gs_means", &p.gs_means},
                                                            {"gs_scales", &p.gs_scales},
                                                            {"gs_rotations", &p.gs_rotations},
                                                            {"gs_harmonics", &p.gs_harmonics},
                                                            {"gs_opacities", &p.gs_opacities}};
        for (const auto& [name, t] : gs) check(id, name, t->defined() ? test::rel_err(*t, ref.tensor(name)) : INFINITY);
      }
    }
  }
}
