#pragma once
// The per-request options of `POST /v1/inference`: `da3 infer`'s scene options, given as
// multipart form fields named like its long options without the dashes ("process_res" or
// "process-res"). Model, device and precision are the server's (fixed at start).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "da3/model.hpp"
#include "da3/pipeline.hpp"

namespace da3::server {

struct TaskOptions {
  std::vector<ExportFormat> formats{ExportFormat::Npz};
  PreprocessOptions preprocess;
  ForwardOptions forward;
  ExportOptions exports;
};

// The field names accepted (canonical spelling, with '_'), for the docs and the OpenAPI schema.
const std::vector<std::string>& task_option_names();

// "process-res" -> "process_res": both spellings name one field.
std::string canonical_field_name(const std::string& name);

// Builds the options from form fields (canonical names). Throws ApiError 400 naming the field
// for an unknown field, a malformed number or boolean, or a value `da3 infer` would refuse.
TaskOptions parse_task_options(const std::map<std::string, std::string>& fields);

// "true"/"false"/"1"/"0" (case-insensitive); anything else throws ApiError 400 naming `field`.
bool parse_bool_field(const std::string& field, const std::string& value);

}  // namespace da3::server
