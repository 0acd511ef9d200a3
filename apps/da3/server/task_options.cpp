// See task_options.hpp. The checks mirror SceneRunner's (scene_runner.cpp) so that a request is
// refused for the same reasons `da3 infer` refuses its arguments, before it is queued.
#include "server/task_options.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "server/api_error.hpp"

namespace da3::server {

namespace {

ApiError bad_field(const std::string& field, const std::string& why) {
  return ApiError(400, "bad_option", "form field '" + field + "': " + why);
}

int64_t parse_int(const std::string& field, const std::string& v, int64_t lo, int64_t hi) {
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end == v.c_str() || *end != '\0' || errno == ERANGE || x < lo || x > hi)
    throw bad_field(field, "'" + v + "' is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

float parse_float(const std::string& field, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || end == v.c_str() || *end != '\0' || !std::isfinite(x) || x < lo || x > hi)
    throw bad_field(field, "'" + v + "' is not a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<float>(x);
}

}  // namespace

const std::vector<std::string>& task_option_names() {
  static const std::vector<std::string> names = {"format",      "process_res",     "process_res_method",
                                                 "ray_pose",    "ref_view",        "backend",
                                                 "conf_percentile", "max_points"};
  return names;
}

std::string canonical_field_name(const std::string& name) {
  std::string s = name;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

bool parse_bool_field(const std::string& field, const std::string& value) {
  std::string v = value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw bad_field(field, "'" + value + "' is not true, false, 1 or 0");
}

TaskOptions parse_task_options(const std::map<std::string, std::string>& fields) {
  TaskOptions o;
  const auto& known = task_option_names();
  for (const auto& [name, value] : fields) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw ApiError(400, "unknown_option", "unknown form field '" + name + "' (known: images, poses, " + list + ")");
    }
    // The pipeline's own parsers name what they accept; their da3::Error becomes a 400 here.
    try {
      if (name == "format") {
        o.formats = parse_export_formats(value);
        // gs_ply / splat need the Gaussian head's output (a model without one fails the task, naming the presets)
        for (ExportFormat f : o.formats)
          o.forward.infer_gs |= f == ExportFormat::GsPly || f == ExportFormat::Splat || f == ExportFormat::GsVideo;
      } else if (name == "process_res") {
        o.preprocess.process_res = static_cast<int>(parse_int(name, value, 14, kMaxProcessRes));
      } else if (name == "process_res_method") {
        o.preprocess.method = parse_resize_method(value);
      } else if (name == "ray_pose") {
        o.forward.use_ray_pose = parse_bool_field(name, value);
      } else if (name == "ref_view") {
        if (value != "first" && value != "middle" && value != "saddle_balanced" && value != "saddle_sim_range")
          throw bad_field(name, "'" + value + "' is not first, middle, saddle_balanced or saddle_sim_range");
        o.forward.ref_view_strategy = value;
      } else if (name == "backend") {
        const auto b = parse_attention_backend(value);
        if (!b) throw bad_field(name, "'" + value + "' is not auto, flash_attn, sdpa or manual");
        o.forward.attention_backend = *b;
      } else if (name == "conf_percentile") {
        o.exports.conf_thresh_percentile = parse_float(name, value, 0, 100);
      } else if (name == "max_points") {
        o.exports.num_max_points = parse_int(name, value, 1, int64_t(1) << 40);
      }
    } catch (const da3::Error& e) {
      throw bad_field(name, e.what());
    }
  }
  return o;
}

}  // namespace da3::server
