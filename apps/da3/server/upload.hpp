#pragma once
// Turns a multipart/form-data request into a task's inputs: the `images` parts written under the
// task's inputs/ folder (names made safe), the optional `poses` npz read and checked, the other
// parts parsed as TaskOptions. Everything a client can get wrong is an ApiError (4xx) before
// anything is queued.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "server/task_store.hpp"

namespace httplib {
struct Request;
}

namespace da3::server {

// The parts of a request, sorted out: image uploads (name, bytes), the poses npz (empty if
// none) and every text field under its canonical name.
struct UploadParts {
  std::vector<std::pair<std::string, const std::string*>> images;  // (client's file name, bytes)
  const std::string* poses = nullptr;
  std::map<std::string, std::string> fields;
};

// 415 unless multipart/form-data; 400 for a duplicate field or a file in an option field;
// 400 for no image, 413 for more than `max_images`; 415 for a part that is not an image.
UploadParts split_upload(const httplib::Request& req, size_t max_images);

// "../../etc/passwd" -> "passwd"; "a b?.png" -> "a_b_.png": a file name safe in one folder.
std::string safe_file_name(const std::string& client_name, size_t index);

// Writes the images (and poses) under `dir`/inputs and fills `input` (options parsed by the
// caller). Throws ApiError 400 for a bad poses file, da3::Error if the disk fails.
void write_inputs(const UploadParts& parts, const std::filesystem::path& dir, TaskInput& input);

}  // namespace da3::server
