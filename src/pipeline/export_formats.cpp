// export_formats: the names of the export formats (`-f`, the server's `format` field) and their
// parsing, apart from the exporters so that a parser of outside input (the server's request
// fuzzer) links without them.
#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"

namespace da3 {

namespace {

constexpr ExportFormat kAll[] = {ExportFormat::Npz,    ExportFormat::MiniNpz,  ExportFormat::DepthPng,
                                 ExportFormat::Depth16, ExportFormat::Ply,      ExportFormat::Glb,
                                 ExportFormat::Colmap,  ExportFormat::DepthVis, ExportFormat::FeatVis,
                                 ExportFormat::GsPly,   ExportFormat::Splat,    ExportFormat::GsVideo};
constexpr const char* kKnown = "npz, mini_npz, depth_png, depth16, ply, glb, colmap, depth_vis, feat_vis, gs_ply, splat, gs_video";

}  // namespace

const char* export_format_name(ExportFormat f) {
  switch (f) {
    case ExportFormat::Npz: return "npz";
    case ExportFormat::MiniNpz: return "mini_npz";
    case ExportFormat::DepthPng: return "depth_png";
    case ExportFormat::Depth16: return "depth16";
    case ExportFormat::Ply: return "ply";
    case ExportFormat::Glb: return "glb";
    case ExportFormat::Colmap: return "colmap";
    case ExportFormat::DepthVis: return "depth_vis";
    case ExportFormat::FeatVis: return "feat_vis";
    case ExportFormat::GsPly: return "gs_ply";
    case ExportFormat::Splat: return "splat";
    case ExportFormat::GsVideo: return "gs_video";
  }
  return "?";
}

std::vector<ExportFormat> parse_export_formats(const std::string& list) {
  std::vector<ExportFormat> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find_first_of(",-", start), list.size());
    std::string name = list.substr(start, end - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) {
      const auto it = std::find_if(std::begin(kAll), std::end(kAll),
                                   [&](ExportFormat f) { return name == export_format_name(f); });
      if (it == std::end(kAll))
        throw Error("unknown export format '" + name + "' (known: " + kKnown + ")");
      if (std::find(out.begin(), out.end(), *it) == out.end()) out.push_back(*it);
    }
    start = end + 1;
  }
  if (out.empty()) throw Error(std::string("no export format given (known: ") + kKnown + ")");
  return out;
}

}  // namespace da3
