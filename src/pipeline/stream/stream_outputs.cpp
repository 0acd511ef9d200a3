// See stream_outputs.hpp.
#include "pipeline/stream/stream_outputs.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <nlohmann/json.hpp>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "io/colmap.hpp"
#include "io/glb.hpp"
#include "io/image.hpp"
#include "io/npz.hpp"
#include "io/ply.hpp"

namespace da3::stream {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kStateVersion = 1;

json matrix_json(const double* m, int rows, int cols) {
  json out = json::array();
  for (int r = 0; r < rows; ++r) {
    json row = json::array();
    for (int c = 0; c < cols; ++c) row.push_back(m[r * cols + c]);
    out.push_back(row);
  }
  return out;
}

// rows x cols values from a JSON array of rows (the log's own matrices).
std::vector<double> matrix_from_json(const json& j, int rows, int cols) {
  std::vector<double> m;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.push_back(j.at(size_t(r)).at(size_t(c)).get<double>());
  return m;
}
std::array<double, 12> extrinsics_from_json(const json& j) {
  const auto v = matrix_from_json(j, 3, 4);
  std::array<double, 12> e;
  std::copy(v.begin(), v.end(), e.begin());
  return e;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A directory filled under a temporary name beside `final_dir` and renamed into place, so that a
// reader (or an interruption) never sees half of it.
template <class Fill>
void write_directory(const fs::path& final_dir, Fill fill) {
  std::string tmpl = (final_dir.parent_path() / ("." + final_dir.filename().string() + ".tmp-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw Error("cannot create a directory beside '" + final_dir.string() + "': " + std::strerror(errno));
  TempDirRegistration on_signal(tmpl);
  std::error_code ec;
  try {
    fill(tmpl);
    if (fs::exists(final_dir)) fs::remove_all(final_dir);
    fs::rename(tmpl, final_dir);
    on_signal.release();
  } catch (...) {
    fs::remove_all(tmpl, ec);
    throw;
  }
}

}  // namespace

std::string frame_stem(int64_t index) {
  char b[32];
  std::snprintf(b, sizeof b, "%06lld", static_cast<long long>(index));
  return b;
}

StreamOutputs::StreamOutputs(const std::string& out_dir, const StreamOutputOptions& o, bool) : dir_(out_dir), opt_(o) {}

StreamOutputs::StreamOutputs(const std::string& out_dir, const StreamOutputOptions& o) : dir_(out_dir), opt_(o) {
  if (fs::exists(path(".stream/state.json")))
    throw Error("'" + dir_ + "' already holds a stream; continue it with --resume, or choose another -o");
  // Nothing is created until the first frame is final: a stream that fails before (a bad
  // model, an unreadable first window) leaves no files behind.
}

void StreamOutputs::start() {
  if (log_fd_ >= 0) return;
  std::error_code ec;
  for (const char* sub : {"", "frames", "depth", ".stream"}) {
    fs::create_directories(fs::path(dir_) / sub, ec);
    if (ec) throw Error("cannot create '" + (fs::path(dir_) / sub).string() + "': " + ec.message());
  }
  log_fd_ = ::open(path(".stream/log.jsonl").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (log_fd_ < 0) throw Error("cannot write '" + path(".stream/log.jsonl") + "': " + std::strerror(errno));
}

std::unique_ptr<StreamOutputs> StreamOutputs::resume(const std::string& out_dir, const StreamOutputOptions& o,
                                                     StreamResumePoint& point) {
  std::unique_ptr<StreamOutputs> out(new StreamOutputs(out_dir, o, true));
  const std::string state_path = out->path(".stream/state.json");
  if (!fs::exists(state_path))
    throw Error("nothing to resume: '" + out_dir + "' holds no stream state (.stream/state.json); run without --resume");
  json st;
  try {
    st = json::parse(read_text(state_path));
    if (st.at("version").get<int>() != kStateVersion) throw Error("version");
  } catch (const std::exception&) {
    throw Error("'" + state_path + "' is not a stream state this da3 can read; start again without --resume in a new -o");
  }
  if (st.at("fingerprint").get<std::string>() != o.fingerprint)
    throw Error("--resume: the stream in '" + out_dir + "' was started with other inputs or settings (" +
                st.at("fingerprint").get<std::string>() + "); now: " + o.fingerprint);
  point.finished = st.at("finished").get<bool>();
  point.windows_done = out->windows_done_ = st.at("windows_done").get<int64_t>();
  point.frames_final = out->frames_final_ = st.at("frames_final").get<int64_t>();
  out->log_lines_ = st.at("log_lines").get<int64_t>();
  if (point.finished) return out;
  std::error_code ec;
  for (const char* sub : {"frames", "depth"}) fs::create_directories(fs::path(out_dir) / sub, ec);
  // The log back to the last finished window: lines after it belong to a window that did not
  // finish, and will be written again.
  const int64_t bytes = st.at("log_bytes").get<int64_t>();
  if (::truncate(out->path(".stream/log.jsonl").c_str(), bytes) != 0)
    throw Error("--resume: cannot truncate '" + out->path(".stream/log.jsonl") + "': " + std::strerror(errno));
  out->log_fd_ = ::open(out->path(".stream/log.jsonl").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (out->log_fd_ < 0) throw Error("cannot append to '" + out->path(".stream/log.jsonl") + "'");
  for (const auto& i : st.at("anchor")) {
    point.anchor.push_back(read_final_frame(out_dir, i.get<int64_t>()));
    out->anchor_indices_.push_back(i.get<int64_t>());
  }
  if (st.contains("voxels") && !st.at("voxels").get<std::string>().empty())
    out->grid_.emplace(VoxelGrid::load(out->path(".stream/" + st.at("voxels").get<std::string>())));
  return out;
}

StreamOutputs::~StreamOutputs() {
  if (log_fd_ >= 0) ::close(log_fd_);
}

std::string StreamOutputs::path(const std::string& rel) const { return (fs::path(dir_) / rel).string(); }

void StreamOutputs::append_log(const std::string& line) {
  const std::string text = line + "\n";
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(log_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot write '" + path(".stream/log.jsonl") + "': " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  ++log_lines_;
}

void StreamOutputs::on_frame(const StreamFrame& f) {
  start();
  const std::string stem = frame_stem(f.index);
  io::write_file_atomic(path("frames/" + stem + ".jpg"), io::encode_jpeg_rgb8(f.rgb.data(), f.width, f.height, opt_.jpeg_quality));
  {
    io::NpzWriter npz(path("depth/" + stem + ".npz"));
    const int64_t H = f.height, W = f.width;
    npz.add("depth", Tensor::from_blob(const_cast<float*>(f.depth.data()), {H, W}, DType::F32));
    if (!f.conf.empty()) npz.add("conf", Tensor::from_blob(const_cast<float*>(f.conf.data()), {H, W}, DType::F32));
    Tensor e = Tensor::empty({3, 4}), k = Tensor::empty({3, 3});
    for (int i = 0; i < 12; ++i) e.data_as<float>()[i] = static_cast<float>(f.w2c[size_t(i)]);
    for (int i = 0; i < 9; ++i) k.data_as<float>()[i] = static_cast<float>(f.K[size_t(i)]);
    npz.add("extrinsics", e);
    npz.add("intrinsics", k);
    npz.commit();
  }
  if (opt_.ply || opt_.glb || opt_.colmap) {
    if (!grid_) grid_.emplace(opt_.voxel_size > 0 ? opt_.voxel_size : auto_voxel_size(f));
    grid_->add_frame(f, opt_.conf_percentile);
  }
  json rec = {{"index", f.index},
              {"timestamp", std::isfinite(f.timestamp) ? json(f.timestamp) : json(nullptr)},
              {"source", f.source},
              {"image", "frames/" + stem + ".jpg"},
              {"depth", "depth/" + stem + ".npz"},
              {"width", f.width},
              {"height", f.height},
              {"extrinsics", matrix_json(f.w2c.data(), 3, 4)},
              {"intrinsics", matrix_json(f.K.data(), 3, 3)}};
  append_log(json{{"frame", rec}}.dump());
  frames_final_ = f.index + 1;
}

void StreamOutputs::on_window(const WindowReport& r, const std::vector<StreamFrame>& anchor) {
  json w = {{"index", r.window},
            {"first_frame", r.first_frame},
            {"frames", r.frames},
            {"new_frames", r.new_frames},
            {"scale", r.seam.T.s},
            {"seconds", r.seconds}};
  if (r.window > 0) {
    w["alignment"] = {{"points", r.seam.fit.points},
                      {"inliers", r.seam.fit.inliers},
                      {"residual_sigma", r.seam.fit.residual_scale},
                      {"seam_camera_jump", r.seam.centre_error},
                      {"seam_camera_jump_rel_depth", r.seam.centre_error_rel},
                      {"seam_rotation_deg", r.seam.rotation_error_deg}};
  }
  append_log(json{{"window", w}}.dump());
  windows_done_ = r.window + 1;
  anchor_indices_.clear();
  for (const auto& f : anchor) anchor_indices_.push_back(f.index);
  write_state(false);
}

void StreamOutputs::write_state(bool finished) {
  if (log_fd_ >= 0 && ::fsync(log_fd_) != 0)
    throw Error("cannot flush '" + path(".stream/log.jsonl") + "': " + std::strerror(errno));
  const off_t bytes = log_fd_ >= 0 ? ::lseek(log_fd_, 0, SEEK_END) : 0;
  // The grid under a name of its own per window: the state names the one that matches it, so
  // an interruption between the two writes never pairs a grid with the wrong window.
  std::string voxels;
  if (grid_ && !finished) {
    voxels = "voxels-" + std::to_string(windows_done_) + ".bin";
    grid_->save(path(".stream/" + voxels));
  }
  json st = {{"version", kStateVersion},     {"fingerprint", opt_.fingerprint}, {"finished", finished},
             {"windows_done", windows_done_}, {"frames_final", frames_final_},   {"anchor", anchor_indices_},
             {"log_lines", log_lines_},       {"log_bytes", static_cast<int64_t>(bytes)}, {"voxels", voxels}};
  io::write_file_atomic(path(".stream/state.json"), st.dump(1));
  // Older grids are no longer named by the state.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path(".stream"), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("voxels-", 0) == 0 && name != voxels) fs::remove(e.path(), ec);
  }
}

std::vector<std::string> StreamOutputs::finish() {
  start();
  if (log_fd_ >= 0 && ::fsync(log_fd_) != 0) throw Error("cannot flush '" + path(".stream/log.jsonl") + "'");
  std::vector<std::string> written;
  // trajectory.json from the log (the only record of every frame: nothing per frame stays in memory).
  json frames = json::array(), windows = json::array();
  {
    std::ifstream in(path(".stream/log.jsonl"));
    std::string line;
    int64_t n = 0;
    while (n < log_lines_ && std::getline(in, line)) {
      ++n;
      const json j = json::parse(line);
      if (j.contains("frame")) frames.push_back(j.at("frame"));
      else windows.push_back(j.at("window"));
    }
  }
  const json traj = {
      {"world_frame", "the camera of frame 0 (identity extrinsics), in the units of the first window's depth"},
      {"extrinsics", "3x4 world-to-camera"},
      {"intrinsics", "3x3, pixels of frames/NNNNNN.jpg"},
      {"window", opt_.window},
      {"overlap", opt_.overlap},
      {"frames", frames},
      {"windows", windows}};
  io::write_file_atomic(path("trajectory.json"), traj.dump(1));
  written.push_back(path("trajectory.json"));

  if (grid_ && (opt_.ply || opt_.glb || opt_.colmap)) {
    std::vector<FusedPoint> pts = grid_->points();
    if (opt_.max_points > 0 && static_cast<int64_t>(pts.size()) > opt_.max_points) {
      // A seeded random subset, kept in grid order: the same run gives the same files.
      std::vector<size_t> idx(pts.size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
      std::mt19937_64 rng(0);
      for (size_t i = 0; i < static_cast<size_t>(opt_.max_points); ++i)
        std::swap(idx[i], idx[i + std::uniform_int_distribution<size_t>(0, idx.size() - 1 - i)(rng)]);
      idx.resize(static_cast<size_t>(opt_.max_points));
      std::sort(idx.begin(), idx.end());
      std::vector<FusedPoint> kept;
      kept.reserve(idx.size());
      for (size_t i : idx) kept.push_back(pts[i]);
      pts.swap(kept);
    }
    std::vector<float> xyz;
    std::vector<uint8_t> rgb;
    xyz.reserve(pts.size() * 3);
    rgb.reserve(pts.size() * 3);
    for (const auto& p : pts) {
      xyz.insert(xyz.end(), p.xyz, p.xyz + 3);
      rgb.insert(rgb.end(), p.rgb, p.rgb + 3);
    }
    if (opt_.ply) {
      io::write_ply_points(path("points.ply"), xyz, rgb,
                           {"da3 stream: voxel-fused, voxel size " + std::to_string(grid_->voxel_size()),
                            "world frame: camera of frame 0"});
      written.push_back(path("points.ply"));
    }
    if (opt_.glb) {
      io::GlbPrimitive cloud;
      cloud.name = "points";
      cloud.positions = xyz;
      cloud.colors.reserve(pts.size() * 4);
      for (const auto& p : pts) cloud.colors.insert(cloud.colors.end(), {p.rgb[0], p.rgb[1], p.rgb[2], 255});
      io::GlbPrimitive path_lines;  // the camera path, one segment per consecutive pair
      path_lines.mode = io::GlbPrimitive::Lines;
      path_lines.name = "trajectory";
      for (size_t i = 1; i < frames.size(); ++i)
        for (size_t k : {i - 1, i}) {
          const Vec3 c = camera_centre(extrinsics_from_json(frames[k].at("extrinsics")));
          for (double v : c) path_lines.positions.push_back(static_cast<float>(v));
          path_lines.colors.insert(path_lines.colors.end(), {255, 64, 64, 255});
        }
      std::vector<io::GlbPrimitive> prims = {std::move(cloud)};
      if (!path_lines.positions.empty()) prims.push_back(std::move(path_lines));
      io::write_glb(path("scene.glb"), prims);
      written.push_back(path("scene.glb"));
    }
    if (opt_.colmap) {
      io::ColmapModel m;
      std::map<int64_t, size_t> image_of;  // frame index -> position in m.images
      for (const auto& f : frames) {
        const int64_t idx = f.at("index").get<int64_t>();
        const std::vector<double> K = matrix_from_json(f.at("intrinsics"), 3, 3);
        const std::array<double, 12> e = extrinsics_from_json(f.at("extrinsics"));
        io::ColmapCamera cam;
        cam.id = static_cast<uint32_t>(m.cameras.size() + 1);
        cam.width = f.at("width").get<uint64_t>();
        cam.height = f.at("height").get<uint64_t>();
        cam.params = {K[0], K[4], K[2], K[5]};
        m.cameras.push_back(cam);
        io::ColmapImage im;
        im.id = cam.id;
        im.camera_id = cam.id;
        const double rot[9] = {e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]};
        im.qvec = io::rotation_to_quaternion(rot);
        im.tvec = {e[3], e[7], e[11]};
        im.name = frame_stem(idx) + ".jpg";
        image_of[idx] = m.images.size();
        m.images.push_back(std::move(im));
      }
      for (size_t i = 0; i < pts.size(); ++i) {
        const auto it = image_of.find(pts[i].frame);
        if (it == image_of.end()) continue;
        io::ColmapImage& im = m.images[it->second];
        io::ColmapPoint p;
        p.id = m.points.size() + 1;
        p.xyz = {pts[i].xyz[0], pts[i].xyz[1], pts[i].xyz[2]};
        p.rgb = {pts[i].rgb[0], pts[i].rgb[1], pts[i].rgb[2]};
        p.image_id = im.id;
        p.point2d_idx = static_cast<uint32_t>(im.point3d_id.size());
        im.xy.push_back(pts[i].px);
        im.xy.push_back(pts[i].py);
        im.point3d_id.push_back(p.id);
        m.points.push_back(p);
      }
      write_directory(path("colmap"), [&](const std::string& tmp) {
        fs::create_directories(fs::path(tmp) / "sparse" / "0");
        fs::create_directories(fs::path(tmp) / "text");
        io::write_colmap_binary((fs::path(tmp) / "sparse" / "0").string(), m);
        io::write_colmap_text((fs::path(tmp) / "text").string(), m);
      });
      written.push_back(path("colmap"));
    }
  }
  write_state(true);
  return written;
}

StreamFrame read_final_frame(const std::string& out_dir, int64_t index) {
  const std::string p = (fs::path(out_dir) / "depth" / (frame_stem(index) + ".npz")).string();
  std::map<std::string, Tensor> z;
  try {
    z = io::read_npz(p);
  } catch (const std::exception& e) {
    throw Error("--resume: cannot read frame " + std::to_string(index) + " back (" + e.what() + ")");
  }
  for (const char* k : {"depth", "extrinsics", "intrinsics"})
    if (!z.count(k)) throw Error("--resume: '" + p + "' lacks '" + k + "'");
  StreamFrame f;
  f.index = index;
  const Tensor d = z.at("depth").to(DType::F32);
  DA3_CHECK(d.dim() == 2, "--resume: '" + p + "' depth is not (H, W)");
  f.height = static_cast<int>(d.size(0));
  f.width = static_cast<int>(d.size(1));
  f.depth.assign(d.data_as<float>(), d.data_as<float>() + d.numel());
  if (z.count("conf")) {
    const Tensor c = z.at("conf").to(DType::F32);
    f.conf.assign(c.data_as<float>(), c.data_as<float>() + c.numel());
  }
  const Tensor e = z.at("extrinsics").to(DType::F64), k = z.at("intrinsics").to(DType::F64);
  DA3_CHECK(e.numel() == 12 && k.numel() == 9, "--resume: '" + p + "' has mis-shaped cameras");
  std::memcpy(f.w2c.data(), e.data_as<double>(), sizeof(double) * 12);
  std::memcpy(f.K.data(), k.data_as<double>(), sizeof(double) * 9);
  f.rgb.assign(size_t(f.width) * f.height * 3, 0);  // not needed to align
  return f;
}

}  // namespace da3::stream
