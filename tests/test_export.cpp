// Exports against the reference's export functions (tests/fixtures/pipeline/exports, written by
// tools/reference/make_pipeline_fixtures.py from a synthetic 2-view prediction), each parsed
// back by the independent readers of test_export_readers.hpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <opencv2/imgcodecs.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/colmap.hpp"
#include "io/npz.hpp"
#include "pipeline/colormap_spectral.hpp"
#include "test_export_readers.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using da3::test::TempDir;

std::string ex_dir() { return da3::test::fixtures_dir() + "/pipeline/exports"; }

// The synthetic prediction as postprocess() would have made it, its views 21x14 processed from
// 42x28 sources named view0.png, view1.png (as the reference's colmap export saw them).
da3::InferenceResult fixture_result() {
  auto z = da3::io::read_npz(ex_dir() + "/prediction.npz");
  da3::InferenceResult r;
  r.depth = z.at("depth");
  r.conf = z.at("conf");
  r.extrinsics = z.at("extrinsics");
  r.intrinsics = z.at("intrinsics");
  r.processed_images = z.at("processed_images");
  const int64_t* orig = z.at("orig_size").data_as<int64_t>();
  for (int v = 0; v < 2; ++v) {
    da3::ViewInfo vi;
    vi.source = "/somewhere/view" + std::to_string(v) + ".png";
    vi.orig_width = int(orig[v * 2]);
    vi.orig_height = int(orig[v * 2 + 1]);
    vi.resized_width = vi.width = int(r.depth.size(2));
    vi.resized_height = vi.height = int(r.depth.size(1));
    r.views.push_back(vi);
  }
  return r;
}

int64_t count_differing_bytes(const da3::Tensor& a, const da3::Tensor& b) {
  if (a.nbytes() != b.nbytes()) return -1;
  const auto* p = static_cast<const uint8_t*>(a.data());
  const auto* q = static_cast<const uint8_t*>(b.data());
  int64_t n = 0;
  for (size_t i = 0; i < a.nbytes(); ++i) n += p[i] != q[i];
  return n;
}

// Our npz holds the reference's keys, identical, plus the keys we add (docs/cli.md, npz).
const std::set<std::string> kOurNpzKeys = {"source_names", "source_sizes", "source_intrinsics"};

void expect_same_npz(const std::string& ours, const std::string& ref) {
  const auto a = da3::io::read_npz(ours), b = da3::io::read_npz(ref);
  for (const auto& [k, t] : a) EXPECT_TRUE(b.count(k) || kOurNpzKeys.count(k)) << "unexpected key " << k;
  for (const auto& [k, t] : b) {
    ASSERT_TRUE(a.count(k)) << "missing key " << k;
    const da3::Tensor& o = a.at(k);
    EXPECT_EQ(o.dtype(), t.dtype()) << k;
    EXPECT_EQ(o.shape(), t.shape()) << k;
    EXPECT_EQ(count_differing_bytes(o, t), 0) << k << ": values differ from the reference (rounding?)";
  }
}

TEST(ExportNpz, KeysDtypesAndRoundedValuesMatchReference) {
  const auto r = fixture_result();
  TempDir t;
  da3::export_npz(r, t.file("results.npz"));
  expect_same_npz(t.file("results.npz"), ex_dir() + "/ref_npz.npz");
  // Issue 18, item 8: the source file of each view, as numpy strings.
  const auto names = da3::io::npz_strings(da3::io::read_npz(t.file("results.npz")).at("source_names"), "source_names");
  ASSERT_EQ(names.size(), r.views.size());
  for (size_t v = 0; v < names.size(); ++v)
    EXPECT_EQ(names[v], std::filesystem::path(r.views[v].source).filename().string());
  da3::export_mini_npz(r, t.file("mini.npz"));
  expect_same_npz(t.file("mini.npz"), ex_dir() + "/ref_mini_npz.npz");
}

// Unicode arrays as numpy writes them: '<U<longest>', UTF-32 code points padded with NULs.
// Bytes that are not UTF-8 (a Linux file name may hold any) become U+FFFD, not a crash.
TEST(ExportNpz, StringArraysRoundTrip) {
  TempDir t;
  const std::vector<std::string> in = {"canyon.jpg", "", "\xc3\xa9t\xc3\xa9 \xe2\x98\x80.png", "x\xffy"};
  {
    da3::io::NpzWriter w(t.file("s.npz"));
    w.add_strings("names", in);
    w.commit();
  }
  const auto raw = da3::test::slurp(t.file("s.npz"));
  const std::string bytes(raw.begin(), raw.end());
  EXPECT_NE(bytes.find("'descr': '<U10'"), std::string::npos);  // "canyon.jpg" is the longest
  const auto out = da3::io::npz_strings(da3::io::read_npz(t.file("s.npz")).at("names"), "names");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], in[0]);
  EXPECT_EQ(out[1], in[1]);
  EXPECT_EQ(out[2], in[2]);
  EXPECT_EQ(out[3], "x\xef\xbf\xbdy");
  EXPECT_THROW(da3::io::npz_strings(da3::Tensor::empty({3}), "x"), da3::Error);
}

TEST(ExportNpz, RoundTripsEveryDtypeAndShape) {
  TempDir t;
  da3::Tensor f = da3::Tensor::from_vector({1.5f, -2.f, 3.25f}, {3});
  da3::Tensor u = da3::Tensor::empty({2, 2, 1}, da3::DType::U8);
  for (int i = 0; i < 4; ++i) u.data_as<uint8_t>()[i] = uint8_t(250 + i);
  da3::Tensor s = da3::Tensor::full({}, 7.f).to(da3::DType::F64);
  {
    da3::io::NpzWriter w(t.file("a.npz"));
    w.add("f", f);
    w.add("u", u);
    w.add("scalar", s);
    w.commit();
  }
  const auto z = da3::io::read_npz(t.file("a.npz"));
  EXPECT_EQ(z.at("f").shape(), (da3::Shape{3}));
  EXPECT_EQ(z.at("f").data_as<float>()[2], 3.25f);
  EXPECT_EQ(z.at("u").shape(), (da3::Shape{2, 2, 1}));
  EXPECT_EQ(z.at("u").data_as<uint8_t>()[3], 253);
  EXPECT_EQ(z.at("scalar").dim(), 0);
  EXPECT_EQ(z.at("scalar").data_as<double>()[0], 7.0);
  // The data of every member starts 64-byte aligned within its .npy, as numpy writes it.
  EXPECT_EQ(da3::io::npy_header(f).size() % 64, 0u);
}

TEST(ExportNpz, UnfinishedWriterLeavesNoFile) {
  TempDir t;
  {
    da3::io::NpzWriter w(t.file("never.npz"));
    w.add("f", da3::Tensor::zeros({4}));
  }  // destroyed without commit(), as when an exception unwinds
  EXPECT_TRUE(fs::is_empty(t.path())) << "neither the file nor its temporary may remain";
}

TEST(ExportDepthPng, SpectralTableMatchesMatplotlib) {
  std::ifstream f(da3::test::fixtures_dir() + "/pipeline/spectral_u8.json");
  const auto ref = nlohmann::json::parse(f);
  const auto& table = da3::pipeline::spectral_table_u8();
  int differ = 0;
  for (int i = 0; i < 256; ++i)
    for (int c = 0; c < 3; ++c) differ += table[i][c] != ref[i][c].get<int>();
  EXPECT_EQ(differ, 0);
}

TEST(ExportDepthPng, ColouringMatchesVisualizeDepth) {
  const auto r = fixture_result();
  const auto ref = da3::io::read_npz(ex_dir() + "/ref_depth_vis.npz");
  const da3::Tensor& vis = ref.at("vis");
  for (int64_t v = 0; v < 2; ++v) {
    const da3::Tensor ours = da3::colorize_depth(r.depth.select(0, v));
    EXPECT_EQ(count_differing_bytes(ours, vis.select(0, v).contiguous()), 0) << "view " << v;
  }
  // Zero, negative and NaN depth are coloured as the reference colours them.
  const da3::Tensor special = da3::colorize_depth(ref.at("special_depth"));
  EXPECT_EQ(count_differing_bytes(special, ref.at("special_vis")), 0);
}

TEST(ExportDepthPng, WritesOneLosslessPngAView) {
  const auto r = fixture_result();
  TempDir t;
  da3::export_depth_png(r, t.path().string());
  const cv::Mat png = cv::imread(t.file("0001_view1.png"), cv::IMREAD_COLOR);
  ASSERT_FALSE(png.empty());
  const da3::Tensor want = da3::colorize_depth(r.depth.select(0, 1));
  ASSERT_EQ(png.rows, 14);
  ASSERT_EQ(png.cols, 21);
  EXPECT_EQ(png.at<cv::Vec3b>(5, 7)[2], want.data_as<uint8_t>()[(5 * 21 + 7) * 3]);  // BGR vs RGB
}

TEST(ExportDepth16, ValuesTimesScaleGiveDepth) {
  auto r = fixture_result();
  r.depth.data_as<float>()[3] = 0.f;  // one invalid pixel
  TempDir t;
  da3::export_depth16(r, t.path().string());
  for (int v = 0; v < 2; ++v) {
    char name[32];
    std::snprintf(name, sizeof name, "%04d_view%d", v, v);
    const cv::Mat png = cv::imread(t.file(std::string(name) + ".png"), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(png.type(), CV_16UC1);
    std::ifstream jf(t.file(std::string(name) + ".json"));
    const auto meta = nlohmann::json::parse(jf);
    const double scale = meta["scale"];
    EXPECT_EQ(meta["unit"], "relative (scale-free network units)");
    EXPECT_EQ(meta["source"], "/somewhere/view" + std::to_string(v) + ".png");
    const float* d = r.depth.data_as<float>() + v * 14 * 21;
    double worst = 0;
    for (int i = 0; i < 14 * 21; ++i) {
      const uint16_t q = png.at<uint16_t>(i / 21, i % 21);
      if (d[i] <= 0) {
        EXPECT_EQ(q, 0);
        continue;
      }
      worst = std::max(worst, std::fabs(q * scale - d[i]));
    }
    EXPECT_LE(worst, scale * 0.5 + 1e-6) << "quantisation error beyond half a step";
  }
}

TEST(ExportPly, PointsMatchReferenceWorldPoints) {
  const auto r = fixture_result();
  const auto ref = da3::io::read_npz(ex_dir() + "/ref_points.npz");
  TempDir t;
  da3::export_ply(r, t.file("points.ply"));
  const auto ply = da3::test::parse_ply(da3::test::slurp(t.file("points.ply")));
  ASSERT_GE(ply.header.size(), 9u);
  EXPECT_EQ(ply.header[0], "ply");
  EXPECT_EQ(ply.header[1], "format binary_little_endian 1.0");
  const da3::Tensor& pts = ref.at("points");
  ASSERT_EQ(ply.xyz.size(), size_t(pts.numel())) << "a different number of points passed the confidence filter";
  const float* p = pts.data_as<float>();
  double worst = 0;
  for (size_t i = 0; i < ply.xyz.size(); ++i) worst = std::max(worst, double(std::fabs(ply.xyz[i] - p[i])));
  EXPECT_LT(worst, 1e-5);
  EXPECT_EQ(0, std::memcmp(ply.rgb.data(), ref.at("colors").data(), ply.rgb.size()));
}

TEST(ExportPly, SubsamplesDeterministically) {
  const auto r = fixture_result();
  da3::ExportOptions o;
  o.num_max_points = 100;
  TempDir t;
  da3::export_ply(r, t.file("a.ply"), o);
  da3::export_ply(r, t.file("b.ply"), o);
  const auto a = da3::test::slurp(t.file("a.ply"));
  EXPECT_EQ(da3::test::parse_ply(a).xyz.size(), 300u);
  EXPECT_EQ(a, da3::test::slurp(t.file("b.ply")));
}

TEST(ExportGlb, ValidGltfMatchingReferenceScene) {
  const auto r = fixture_result();
  TempDir t;
  da3::export_glb(r, t.file("scene.glb"));
  const auto ours = da3::test::parse_glb(da3::test::slurp(t.file("scene.glb")));
  const auto ref = da3::test::parse_glb(da3::test::slurp(ex_dir() + "/ref_scene.glb"));
  ASSERT_EQ(ours.prims.size(), 3u) << "points and two camera frustums";
  // The reference's trimesh names meshes geometry_0 (points), geometry_1.. (cameras).
  const auto& pts = ours.prims.at("points");
  const auto& rpts = ref.prims.at("geometry_0");
  EXPECT_EQ(pts.mode, 0);
  ASSERT_EQ(pts.pos.size(), rpts.pos.size());
  double worst = 0;
  for (size_t i = 0; i < pts.pos.size(); ++i) worst = std::max(worst, double(std::fabs(pts.pos[i] - rpts.pos[i])));
  EXPECT_LT(worst, 1e-5) << "aligned, centred point positions";
  EXPECT_EQ(pts.rgba, rpts.rgba);
  for (int v = 0; v < 2; ++v) {
    const auto& cam = ours.prims.at("camera_" + std::to_string(v));
    const auto& rcam = ref.prims.at("geometry_" + std::to_string(v + 1));
    EXPECT_EQ(cam.mode, 1);
    ASSERT_EQ(cam.pos.size(), 48u);
    // trimesh may order the 8 segments differently: match each of ours to one of theirs.
    for (size_t s = 0; s < 8; ++s) {
      double best = INFINITY;
      for (size_t q = 0; q < rcam.pos.size() / 6; ++q)
        for (int flip = 0; flip < 2; ++flip) {
          double d = 0;
          for (int e = 0; e < 2; ++e)
            for (int c = 0; c < 3; ++c)
              d = std::max(d, double(std::fabs(cam.pos[s * 6 + e * 3 + c] - rcam.pos[q * 6 + ((e ^ flip) * 3) + c])));
          best = std::min(best, d);
        }
      EXPECT_LT(best, 1e-5) << "camera " << v << " segment " << s;
    }
    EXPECT_EQ(std::vector<uint8_t>(cam.rgba.begin(), cam.rgba.begin() + 4),
              std::vector<uint8_t>(rcam.rgba.begin(), rcam.rgba.begin() + 4));
  }
}

TEST(ExportColmap, TextModelMatchesReference) {
  const auto r = fixture_result();
  TempDir t;
  da3::export_colmap(r, t.path().string());
  const auto ours = da3::test::parse_colmap_text(t.file("text"));
  const auto ref = da3::test::parse_colmap_text(ex_dir() + "/colmap_ref");
  ASSERT_EQ(ours.cameras.size(), 2u);
  ASSERT_EQ(ours.images.size(), 2u);
  ASSERT_EQ(ours.points.size(), ref.points.size());
  for (const auto& [id, c] : ref.cameras) {
    const auto& o = ours.cameras.at(id);
    EXPECT_EQ(o.model, "PINHOLE");
    EXPECT_EQ(o.w, c.w);
    EXPECT_EQ(o.h, c.h);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(o.params[i], c.params[i], 1e-5 * std::fabs(c.params[i]));
  }
  for (const auto& [id, im] : ref.images) {
    const auto& o = ours.images.at(id);
    EXPECT_EQ(o.name, im.name);
    EXPECT_EQ(o.camera, im.camera);
    const double sign = (o.qt[0] * im.qt[0] + o.qt[1] * im.qt[1] + o.qt[2] * im.qt[2] + o.qt[3] * im.qt[3]) < 0 ? -1 : 1;
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(sign * o.qt[i], im.qt[i], 1e-6) << "quaternion";
    for (int i = 4; i < 7; ++i) EXPECT_NEAR(o.qt[i], im.qt[i], 1e-6) << "translation";
    ASSERT_EQ(o.ids, im.ids);
    // The reference truncates 2-D points to whole pixels; ours are exact (here whole anyway).
    for (size_t i = 0; i < o.xy.size(); ++i) EXPECT_EQ(std::floor(o.xy[i]), im.xy[i]);
  }
  for (const auto& [id, p] : ref.points) {
    const auto& o = ours.points.at(id);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(o.xyz[c], p.xyz[c], 1e-5);
      EXPECT_EQ(o.rgb[c], p.rgb[c]);
    }
    EXPECT_EQ(o.error, -1.0);
    EXPECT_EQ(o.track, p.track);
  }
}

TEST(ExportColmap, BinaryModelHoldsTheSameAsText) {
  const auto r = fixture_result();
  TempDir t;
  da3::export_colmap(r, t.path().string());
  const auto text = da3::test::parse_colmap_text(t.file("text"));
  const auto cams = da3::test::slurp(t.file("sparse/0/cameras.bin"));
  ASSERT_EQ(cams.size(), 8u + 2 * (4 + 4 + 8 + 8 + 4 * 8));
  double fx;
  std::memcpy(&fx, &cams[8 + 24], 8);
  EXPECT_DOUBLE_EQ(fx, text.cameras.at(1).params[0]);
  const auto pts = da3::test::slurp(t.file("sparse/0/points3D.bin"));
  uint64_t n;
  std::memcpy(&n, pts.data(), 8);
  EXPECT_EQ(n, text.points.size());
  EXPECT_EQ(pts.size(), 8 + n * (8 + 24 + 3 + 8 + 8 + 8));
  const auto imgs = da3::test::slurp(t.file("sparse/0/images.bin"));
  size_t expect = 8;
  for (const auto& [id, im] : text.images) expect += 4 + 56 + 4 + im.name.size() + 1 + 8 + im.ids.size() * 24;
  EXPECT_EQ(imgs.size(), expect);
}

TEST(ExportColmap, QuaternionOfKnownRotations) {
  const double identity[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(da3::io::rotation_to_quaternion(identity), (std::array<double, 4>{1, 0, 0, 0}));
  const double about_x_180[9] = {1, 0, 0, 0, -1, 0, 0, 0, -1};  // trace -1: the other branch
  const auto q = da3::io::rotation_to_quaternion(about_x_180);
  EXPECT_NEAR(std::fabs(q[1]), 1.0, 1e-12);
  EXPECT_NEAR(q[0], 0.0, 1e-12);
}

TEST(ExportResults, LayoutReplacementAndNoLeftovers) {
  const auto r = fixture_result();
  TempDir t;
  const auto formats = da3::parse_export_formats("npz, mini_npz,depth_png,depth16,ply,glb,colmap,npz");
  EXPECT_EQ(formats.size(), 7u);
  for (int round = 0; round < 2; ++round) {  // the second round replaces every output
    const auto written = da3::export_results(r, t.path().string(), formats);
    EXPECT_EQ(written.size(), 7u);
  }
  for (const char* p : {"results.npz", "results_mini.npz", "depth_png/0000_view0.png", "depth_png/0001_view1.png",
                        "depth16/0000_view0.png", "depth16/0001_view1.json", "points.ply", "scene.glb",
                        "colmap/sparse/0/points3D.bin", "colmap/text/images.txt"})
    EXPECT_TRUE(fs::is_regular_file(t.path() / p)) << p;
  for (const auto& e : fs::recursive_directory_iterator(t.path())) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << e.path();
    EXPECT_EQ(name.find(".old-"), std::string::npos) << e.path();
  }
}

TEST(ExportResults, FailedExportWritesNothing) {
  auto r = fixture_result();
  r.extrinsics = da3::Tensor();  // a monocular result: no poses
  TempDir t;
  for (const char* f : {"ply", "glb", "colmap"}) {
    try {
      da3::export_results(r, t.path().string(), da3::parse_export_formats(f));
      ADD_FAILURE() << f << " without poses must fail";
    } catch (const da3::Error& e) {
      EXPECT_NE(std::string(e.what()).find("needs camera poses"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_empty(t.path())) << "a failed export must leave no file or temporary behind";
  // What does not need poses still works for such a result.
  EXPECT_EQ(da3::export_results(r, t.path().string(), da3::parse_export_formats("npz,depth_png")).size(), 2u);
}

TEST(ExportResults, ReadableByTheReferenceToolsWhenPresent) {
  // numpy.load, trimesh and pycolmap on our files: only where the reference venv exists.
  const std::string root = fs::path(da3::test::fixtures_dir()).parent_path().parent_path().string();
  const std::string py = root + "/tools/reference/.venv/bin/python";
  if (!fs::exists(py)) GTEST_SKIP() << "no " << py << " (tools/reference/setup_env.sh); skipping the Python readers";
  const auto r = fixture_result();
  TempDir t;
  da3::export_results(r, t.path().string(), da3::parse_export_formats("npz,ply,glb,colmap,depth16"));
  const std::string cmd = py + " " + root + "/tools/reference/check_exports.py " + t.path().string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
}

}  // namespace
