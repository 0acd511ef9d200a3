// See http_api.hpp. Every handler runs inside guarded(): an ApiError becomes its status and JSON
// body, any other exception a 500 with JSON; httplib's own refusals (404, 413, a malformed
// multipart body: 400) get their JSON body from the error handler. Nothing is answered with an
// empty or HTML error page.
#include "server/http_api.hpp"

#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "da3/threads.hpp"
#include "da3/version.hpp"
#include "server/api_error.hpp"
#include "server/openapi.hpp"
#include "server/png_text.hpp"
#include "server/process_memory.hpp"
#include "server/upload.hpp"

namespace da3::server {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

namespace {

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(Response& res, int status, const std::string& code, const std::string& message) {
  if (status == 503) res.set_header("Retry-After", "5");
  if (status == 401) res.set_header("WWW-Authenticate", "Bearer");
  send_json(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

template <class Fn>
httplib::Server::Handler guarded(Fn fn) {
  return [fn](const Request& req, Response& res) {
    try {
      fn(req, res);
    } catch (const ApiError& e) {
      send_error(res, e.status(), e.code(), e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, 503, "out_of_memory", "the server ran out of memory for this request");
    } catch (const std::exception& e) {
      send_error(res, 500, "internal", e.what());
    }
  };
}

// Compares in time independent of where the strings differ (the token is a secret; its length
// is not worth hiding).
bool same_secret(const std::string& given, const std::string& token) {
  if (given.size() != token.size() || token.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

bool valid_task_id(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

const char* content_type_of(const fs::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".png") return "image/png";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".glb") return "model/gltf-binary";
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  return "application/octet-stream";  // npz, ply, colmap .bin
}

// Streams a file in 64 KiB pieces: exports can be hundreds of MB. The open stream keeps the
// data readable even if the task is deleted meanwhile.
void send_file(Response& res, const fs::path& path) {
  auto f = std::make_shared<std::ifstream>(path, std::ios::binary);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!*f || ec) throw ApiError(404, "not_found", "file not found");
  res.set_content_provider(static_cast<size_t>(size), content_type_of(path),
                           [f](size_t offset, size_t length, httplib::DataSink& sink) {
                             std::vector<char> buf(std::min<size_t>(length, 64 << 10));
                             f->seekg(static_cast<std::streamoff>(offset));
                             f->read(buf.data(), static_cast<std::streamsize>(buf.size()));
                             if (f->gcount() <= 0) return false;
                             sink.write(buf.data(), static_cast<size_t>(f->gcount()));
                             return true;
                           });
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw ApiError(404, "not_found", "file not found");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string device_name(const ModelOptions& o) {
  return o.device == Device::CPU ? "cpu" : "cuda:" + std::to_string(o.device_index);
}

}  // namespace

HttpApi::HttpApi(HttpConfig config, TaskStore& store, const SceneEngine& engine)
    : config_(std::move(config)), store_(store), engine_(engine), http_(std::make_unique<httplib::Server>()) {
  http_->set_payload_max_length(config_.limits.max_upload_bytes);
  http_->set_read_timeout(config_.limits.read_timeout_s, 0);
  http_->set_write_timeout(config_.limits.read_timeout_s, 0);
  http_->set_keep_alive_timeout(5);
  // A POST /v1/depth holds its connection's thread until its task ran, and at most max_queue + 1
  // tasks exist: with that many threads plus spares, waiting requests never starve /healthz,
  // polls or downloads. (httplib's default is max(8, cores - 1).) Capped: a thread is 8 MB of
  // address space.
  const size_t threads = std::min<size_t>(config_.max_queue + 1 + 8, 128);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  install_routes();
}

HttpApi::~HttpApi() = default;

int HttpApi::bind(const std::string& host, int port) {
  const int bound = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) throw Error("cannot listen on " + host + ":" + std::to_string(port) + " (in use, or not an address here)");
  return bound;
}

void HttpApi::serve() { http_->listen_after_bind(); }
void HttpApi::stop() { http_->stop(); }

void HttpApi::install_routes() {
  auto& s = *http_;

  s.set_error_handler(httplib::Server::HandlerWithResponse([](const Request&, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's JSON already
    std::string code = "http_" + std::to_string(res.status), message = "HTTP error " + std::to_string(res.status);
    if (res.status == 404) code = "not_found", message = "no such endpoint or resource";
    if (res.status == 413) code = "payload_too_large", message = "the request body is larger than --max-upload-mb";
    if (res.status == 400) code = "bad_request", message = "malformed request (headers or multipart body)";
    // After a request httplib could not read (a stalled or malformed body, one too large) the
    // connection's framing is lost: close it rather than wait for another request on it.
    if (res.status == 400 || res.status == 413) res.set_header("Connection", "close");
    send_error(res, res.status, code, message);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // Every endpoint but /healthz needs the token when one is set (the page too: it asks for it).
  s.set_pre_routing_handler([this](const Request& req, Response& res) {
    if (config_.token.empty() || req.path == "/healthz") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !same_secret(auth.substr(prefix.size()), config_.token)) {
      send_error(res, 401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/healthz", guarded([](const Request&, Response& res) { send_json(res, 200, {{"ok", true}}); }));

  s.Get("/openapi.json", guarded([](const Request&, Response& res) { send_json(res, 200, openapi_description()); }));

  s.Get("/v1/status", guarded([this](const Request&, Response& res) {
    const ModelOptions& mo = engine_.options();
    const ProcessMemory mem = process_memory();
    send_json(res, 200,
              {{"version", da3::version()},
               // cameras: whether results carry poses (what ply, glb and colmap need); the page
               // asks for the 3D export only then.
               {"model", {{"dir", engine_.model().dir()},
                          {"name", engine_.model().config().model_name},
                          {"cameras", engine_.model().config().net.cam_dec.has_value()}}},
               {"device", device_name(mo)},
               {"precision", mo.precision == Precision::BF16 ? "bf16" : "fp32"},
               // What a request with backend=auto runs on this device (env override included).
               {"attention_backend", attention_backend_name(mo.attention_backend == AttentionBackend::Auto
                                                                ? attention_backend(mo.device)
                                                                : mo.attention_backend)},
               {"threads", da3::num_threads()},
               {"queue", {{"queued", store_.queued()}, {"running", store_.running()}, {"max_queue", config_.max_queue}}},
               {"results", {{"stored", store_.stored()}, {"max_results", config_.max_results},
                            {"ttl_s", config_.result_ttl_s}}},
               {"limits", {{"max_images", config_.limits.max_images},
                           {"max_upload_bytes", config_.limits.max_upload_bytes}}},
               {"memory", {{"rss_bytes", mem.rss_bytes}, {"peak_rss_bytes", mem.peak_rss_bytes}}}});
  }));

  s.Post("/v1/inference", guarded([this](const Request& req, Response& res) {
    const UploadParts parts = split_upload(req, config_.limits.max_images);
    TaskInput input;
    input.options = parse_task_options(parts.fields);
    fs::path dir;
    const std::string id = store_.new_task_dir(dir);
    try {
      write_inputs(parts, dir, input);
    } catch (...) {
      std::error_code ec;
      fs::remove_all(dir, ec);  // nothing half-written stays behind
      throw;
    }
    store_.submit(id, std::move(input));
    res.set_header("Location", "/v1/tasks/" + id);
    send_json(res, 202, {{"id", id}});
  }));

  s.Get(R"(/v1/tasks/([^/]+))", guarded([this](const Request& req, Response& res) {
    const std::string id = req.matches[1];
    json j = valid_task_id(id) ? store_.describe(id) : json(nullptr);
    if (j.is_null()) throw ApiError(404, "unknown_task", "no task '" + id + "' (never made, deleted or expired)");
    send_json(res, 200, j);
  }));

  s.Delete(R"(/v1/tasks/([^/]+))", guarded([this](const Request& req, Response& res) {
    const std::string id = req.matches[1];
    if (!valid_task_id(id) || !store_.remove(id))
      throw ApiError(404, "unknown_task", "no task '" + id + "' (never made, deleted or expired)");
    res.status = 204;
  }));

  // The path must be one the task listed: nothing outside its out/ folder can be named, however
  // it is spelt ("..", "%2e%2e", absolute, symlinks).
  s.Get(R"(/v1/tasks/([^/]+)/files/(.+))", guarded([this](const Request& req, Response& res) {
    const std::string id = req.matches[1], path = req.matches[2];
    fs::path out;
    std::vector<std::string> files;
    if (!valid_task_id(id) || !store_.done_files(id, out, files))
      throw ApiError(404, "unknown_task", "no finished task '" + id + "'");
    if (std::find(files.begin(), files.end(), path) == files.end())
      throw ApiError(404, "not_found", "task '" + id + "' has no file '" + path + "' (see its 'files')");
    send_file(res, out / path);
  }));

  s.Post("/v1/depth", guarded([this](const Request& req, Response& res) {
    UploadParts parts = split_upload(req, config_.limits.max_images);
    if (parts.images.size() != 1) throw ApiError(400, "bad_request", "/v1/depth takes exactly one 'images' part");
    if (parts.poses) throw ApiError(400, "bad_request", "/v1/depth takes no poses; use /v1/inference");
    std::string format = "png";
    if (const auto it = parts.fields.find("format"); it != parts.fields.end()) {
      format = it->second;
      parts.fields.erase(it);
    }
    if (format != "png" && format != "npz")
      throw ApiError(400, "bad_option", "form field 'format': '" + format + "' is not png or npz");
    TaskInput input;
    input.options = parse_task_options(parts.fields);
    input.options.formats = {format == "png" ? ExportFormat::Depth16 : ExportFormat::MiniNpz};
    fs::path dir;
    const std::string id = store_.new_task_dir(dir);
    try {
      write_inputs(parts, dir, input);
    } catch (...) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      throw;
    }
    // Queued like any task: one inference at a time, and a full queue is a 503 here too.
    store_.submit(id, std::move(input));
    struct Cleanup {  // the result is returned once, then dropped
      TaskStore& s;
      std::string id;
      ~Cleanup() { s.remove(id); }
    } cleanup{store_, id};
    if (!store_.wait_finished(id, std::chrono::seconds(config_.limits.sync_timeout_s)))
      throw ApiError(504, "timeout", "no result within " + std::to_string(config_.limits.sync_timeout_s) + " s");
    const json state = store_.describe(id);
    if (!state.is_object()) throw ApiError(500, "internal", "the task vanished (evicted by newer results)");
    if (state.value("state", "") != "done") {
      const json error = state.value("error", json::object());
      const std::string code = error.value("code", "internal");
      const int status = code == "inference_failed" ? 422 : code == "shutting_down" ? 503 : 500;
      throw ApiError(status, code, error.value("message", "failed"));
    }
    fs::path out;
    std::vector<std::string> files;
    if (!store_.done_files(id, out, files)) throw ApiError(500, "internal", "the result vanished");
    if (format == "npz") {
      res.set_content(read_text(out / "results_mini.npz"), "application/octet-stream");
      return;
    }
    // The one view's depth16 pair, named <index>_<source stem> (pipeline::view_file_stem).
    std::string stem;
    for (const std::string& f : files)
      if (f.rfind("depth16/0000", 0) == 0 && f.size() > 4 && f.compare(f.size() - 4, 4, ".png") == 0)
        stem = f.substr(0, f.size() - 4);
    if (stem.empty()) throw ApiError(500, "internal", "the depth16 result is missing");
    const json meta = json::parse(read_text(out / (stem + ".json")));
    const std::string png = read_text(out / (stem + ".png"));
    // %.17g: the exact double of the sidecar JSON (9 digits lost up to 5e-9 of it).
    char scale[32];
    std::snprintf(scale, sizeof scale, "%.17g", meta.at("scale").get<double>());
    const auto with_text = add_png_text(std::vector<uint8_t>(png.begin(), png.end()),
                                        {{"depth_scale", scale},
                                         {"depth_unit", meta.value("unit", "")},
                                         {"Description", "da3 depth16: depth = value * depth_scale; 0 = no depth"}});
    res.set_header("X-Depth-Scale", scale);
    res.set_content(std::string(with_text.begin(), with_text.end()), "image/png");
  }));

  // The web page and the three.js it uses, from fixed lists: no path from the URL reaches the disk.
  const auto web_file = [this](const fs::path& p) {
    return guarded([p](const Request&, Response& res) {
      std::error_code ec;
      if (!fs::is_regular_file(p, ec))
        throw ApiError(404, "not_found", "web file missing on the server: " + p.string());
      send_file(res, p);
    });
  };
  s.Get("/", web_file(config_.web_dir / "index.html"));
  s.Get("/app.js", web_file(config_.web_dir / "app.js"));
  s.Get("/style.css", web_file(config_.web_dir / "style.css"));
  s.Get("/vendor/three.min.js", web_file(config_.three_dir / "build" / "three.min.js"));
  s.Get("/vendor/OrbitControls.js", web_file(config_.three_dir / "examples" / "js" / "controls" / "OrbitControls.js"));
  s.Get("/vendor/GLTFLoader.js", web_file(config_.three_dir / "examples" / "js" / "loaders" / "GLTFLoader.js"));
}

}  // namespace da3::server
