// `da3 serve`'s handling of a request body (apps/da3/server/upload.cpp, task_options.cpp): the
// multipart parts a client sent, sorted into images, poses and option fields (split_upload), the
// fields parsed as `da3 infer`'s options (parse_task_options), client file names made safe
// (safe_file_name) and the inputs written and read back (write_inputs: the poses npz).
//
// The HTTP framing itself (request line, headers, the multipart boundaries) is cpp-httplib's,
// a library Debian ships compiled, whose parser is fuzzed upstream (OSS-Fuzz): its output, the
// parts, is what reaches our code, so one input here is the parts, not the raw bytes:
//   byte 0: bit 0 set = the request says multipart/form-data (else a JSON body, refused 415)
//   then parts separated by "\n--\n", each "NAME\nFILENAME\nCONTENT" (missing lines are empty).
#include <httplib.h>

#include <filesystem>
#include <string_view>

#include "da3/error.hpp"
#include "fuzz_util.hpp"
#include "server/api_error.hpp"
#include "server/task_options.hpp"
#include "server/upload.hpp"

namespace {

// Cuts `s` at the first "\n" (or returns all of it, leaving `s` empty).
std::string_view take_line(std::string_view& s) {
  const size_t at = s.find('\n');
  const std::string_view line = s.substr(0, at);
  s = at == std::string_view::npos ? std::string_view() : s.substr(at + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  httplib::Request req;
  req.set_header("Content-Type", (data[0] & 1) ? "multipart/form-data; boundary=x" : "application/json");
  while (!in.empty()) {
    const size_t end = in.find("\n--\n");
    std::string_view part = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 4);
    httplib::MultipartFormData f;
    f.name = std::string(take_line(part));
    f.filename = std::string(take_line(part));
    f.content = std::string(part);
    req.files.emplace(f.name, std::move(f));
  }
  namespace fs = std::filesystem;
  const fs::path task = fs::path(da3::fuzz::scratch_dir()) / "task";
  try {
    const auto parts = da3::server::split_upload(req, 8);
    const auto options = da3::server::parse_task_options(parts.fields);
    for (size_t i = 0; i < parts.images.size(); ++i) {
      const std::string safe = da3::server::safe_file_name(parts.images[i].first, i);
      // The contract the server relies on: one plain name in one folder.
      if (safe.empty() || safe == "." || safe == ".." || safe.find('/') != std::string::npos || safe[0] == '.')
        __builtin_trap();
    }
    da3::server::TaskInput input;
    input.options = options;
    da3::server::write_inputs(parts, task, input);
    for (const auto& p : input.image_paths)
      if (fs::path(p).parent_path() != task / "inputs") __builtin_trap();  // escaped its folder
    volatile uint64_t keep =
        da3::fuzz::touch(input.cameras.extrinsics) + da3::fuzz::touch(input.cameras.intrinsics);
    (void)keep;
  } catch (const da3::server::ApiError& e) {
    if (e.status() < 400 || e.status() > 499) __builtin_trap();  // a client's fault is a 4xx
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  std::error_code ec;
  fs::remove_all(task, ec);
  return 0;
}
