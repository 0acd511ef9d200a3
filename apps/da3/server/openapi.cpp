// See openapi.hpp. Written out by hand from the routes in http_api.cpp and the fields in
// task_options.cpp; test_server checks that every route answers as described here.
#include "server/openapi.hpp"

#include "da3/version.hpp"
#include "server/task_options.hpp"

namespace da3::server {

using json = nlohmann::json;

namespace {

json ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json error_response(const std::string& description) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

json json_response(const std::string& description, const json& schema) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

// The multipart fields shared by /v1/inference and /v1/depth (da3 infer's options).
json option_properties() {
  return {
      {"format", {{"type", "string"}, {"default", "npz"},
                  {"description", "Comma-separated exports: npz, mini_npz, depth_png, depth16, ply, glb, colmap"}}},
      {"process_res", {{"type", "integer"}, {"minimum", 14}, {"maximum", 4096}, {"default", 504}}},
      {"process_res_method", {{"type", "string"}, {"default", "upper_bound_resize"},
                              {"enum", {"upper_bound_resize", "lower_bound_resize", "upper_bound_crop",
                                        "lower_bound_crop"}}}},
      {"ray_pose", {{"type", "string"}, {"enum", {"true", "false", "1", "0"}}, {"default", "false"},
                    {"description", "Poses from the ray head instead of the camera decoder"}}},
      {"ref_view", {{"type", "string"}, {"default", "saddle_balanced"},
                    {"enum", {"first", "middle", "saddle_balanced", "saddle_sim_range"}}}},
      {"backend", {{"type", "string"}, {"default", "auto"}, {"enum", {"auto", "flash_attn", "sdpa", "manual"}}}},
      {"conf_percentile", {{"type", "number"}, {"minimum", 0}, {"maximum", 100}, {"default", 40}}},
      {"max_points", {{"type", "integer"}, {"minimum", 1}, {"default", 1000000}}},
  };
}

}  // namespace

json openapi_description() {
  const json security = json::array({{{"bearer", json::array()}}});
  json inference_props = option_properties();
  inference_props["images"] = {{"type", "array"}, {"items", {{"type", "string"}, {"format", "binary"}}},
                               {"description", "One part per view (JPEG, PNG, BMP, TIFF or WebP), in view order"}};
  inference_props["poses"] = {{"type", "string"}, {"format", "binary"},
                              {"description", "Optional npz: extrinsics (N,4,4) world-to-camera, intrinsics (N,3,3)"}};
  json depth_props = {{"images", {{"type", "string"}, {"format", "binary"}}},
                      {"format", {{"type", "string"}, {"enum", {"png", "npz"}}, {"default", "png"}}},
                      {"process_res", option_properties()["process_res"]},
                      {"process_res_method", option_properties()["process_res_method"]},
                      {"backend", option_properties()["backend"]}};
  const json task_id = {{"name", "id"}, {"in", "path"}, {"required", true},
                        {"schema", {{"type", "string"}, {"pattern", "^[0-9a-f]{32}$"}}}};
  const json common_errors = {{"401", error_response("Missing or wrong bearer token")}};
  auto with_errors = [&](json responses) {
    if (!responses.contains("401")) responses["401"] = common_errors["401"];
    return responses;
  };

  json paths;
  paths["/healthz"]["get"] = {{"summary", "Liveness (never needs the token)"}, {"security", json::array()},
                              {"responses", {{"200", json_response("Alive", {{"type", "object"}})}}}};
  paths["/openapi.json"]["get"] = {{"summary", "This description"}, {"security", security},
                                   {"responses", with_errors({{"200", json_response("OpenAPI 3 document", {{"type", "object"}})}})}};
  paths["/v1/status"]["get"] = {{"summary", "Model, device, precision, queue and memory"}, {"security", security},
                                {"responses", with_errors({{"200", json_response("Server status", ref("Status"))}})}};
  paths["/v1/inference"]["post"] = {
      {"summary", "Queue one scene (all images are its views); answers at once with the task id"},
      {"security", security},
      {"requestBody",
       {{"required", true},
        {"content", {{"multipart/form-data", {{"schema", {{"type", "object"}, {"required", {"images"}},
                                                          {"properties", inference_props}}}}}}}}},
      {"responses", with_errors({{"202", json_response("Queued", {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}})},
                                 {"400", error_response("Bad multipart body, option or poses file; no image")},
                                 {"413", error_response("Body over --max-upload-mb or more images than --max-images")},
                                 {"415", error_response("Not multipart/form-data, or a part that is not an image")},
                                 {"503", error_response("Queue full or shutting down (Retry-After given)")}})}};
  paths["/v1/tasks/{id}"]["get"] = {{"summary", "A task's state, progress, error and files"},
                                    {"security", security}, {"parameters", {task_id}},
                                    {"responses", with_errors({{"200", json_response("The task", ref("Task"))},
                                                               {"404", error_response("Unknown task")}})}};
  paths["/v1/tasks/{id}"]["delete"] = {{"summary", "Cancel a queued task or delete a finished one"},
                                       {"security", security}, {"parameters", {task_id}},
                                       {"responses", with_errors({{"204", {{"description", "Deleted"}}},
                                                                  {"404", error_response("Unknown task")}})}};
  paths["/v1/tasks/{id}/files/{path}"]["get"] = {
      {"summary", "One result file; `path` is one of the task's `files` (may hold a subfolder)"},
      {"security", security},
      {"parameters", {task_id, {{"name", "path"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}}}},
      {"responses", with_errors({{"200", {{"description", "The file"},
                                          {"content", {{"application/octet-stream", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}},
                                 {"404", error_response("Unknown or unfinished task, or not one of its files")}})}};
  paths["/v1/depth"]["post"] = {
      {"summary", "Depth of one image, synchronously (queued with the other tasks)"},
      {"security", security},
      {"requestBody",
       {{"required", true},
        {"content", {{"multipart/form-data", {{"schema", {{"type", "object"}, {"required", {"images"}},
                                                          {"properties", depth_props}}}}}}}}},
      {"responses",
       with_errors({{"200", {{"description", "png: 16-bit grey PNG, depth = value * depth_scale (tEXt chunk "
                                             "'depth_scale' and header X-Depth-Scale), 0 = no depth; npz: "
                                             "the mini_npz export"},
                             {"content", {{"image/png", {{"schema", {{"type", "string"}, {"format", "binary"}}}}},
                                          {"application/octet-stream", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}},
                    {"400", error_response("Bad request")},
                    {"413", error_response("Body too large")},
                    {"415", error_response("Not an image")},
                    {"422", error_response("The image could not be decoded or run")},
                    {"503", error_response("Queue full (Retry-After given)")},
                    {"504", error_response("No result in time")}})}};

  json schemas;
  schemas["Error"] = {{"type", "object"}, {"required", {"error"}},
                      {"properties", {{"error", {{"type", "object"}, {"required", {"code", "message"}},
                                                 {"properties", {{"code", {{"type", "string"}}},
                                                                 {"message", {{"type", "string"}}}}}}}}}};
  schemas["Task"] = {
      {"type", "object"},
      {"required", {"id", "state", "progress", "files"}},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"state", {{"type", "string"}, {"enum", {"queued", "running", "done", "failed"}}}},
        {"queue_position", {{"type", "integer"}}},
        {"progress", {{"type", "object"}, {"properties", {{"stage", {{"type", "string"}}},
                                                         {"done", {{"type", "integer"}}},
                                                         {"total", {{"type", "integer"}}}}}}},
        {"files", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"error", {{"type", "object"}, {"description", "Only when failed"},
                   {"properties", {{"code", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}}}}};
  schemas["Status"] = {{"type", "object"},
                       {"properties", {{"version", {{"type", "string"}}},
                                       {"model", {{"type", "object"}}},
                                       {"device", {{"type", "string"}}},
                                       {"precision", {{"type", "string"}}},
                                       {"attention_backend", {{"type", "string"}}},
                                       {"threads", {{"type", "integer"}}},
                                       {"queue", {{"type", "object"}}},
                                       {"results", {{"type", "object"}}},
                                       {"limits", {{"type", "object"}}},
                                       {"memory", {{"type", "object"}}}}}};

  return {{"openapi", "3.0.3"},
          {"info", {{"title", "da3 serve"}, {"version", da3::version()},
                    {"description", "Depth Anything 3 behind HTTP: see docs/server.md"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas},
                          {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

}  // namespace da3::server
