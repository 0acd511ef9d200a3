#pragma once
// The HTTP side of `da3 serve`: routes (docs/server.md), limits, the bearer token, JSON errors.
// Owns the cpp-httplib server; the tasks and the model live in TaskStore and SceneEngine.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "server/scene_engine.hpp"
#include "server/task_store.hpp"

namespace httplib {
class Server;
}

namespace da3::server {

struct HttpLimits {
  size_t max_images = 64;                    // views per request (413 above)
  size_t max_upload_bytes = size_t(256) << 20;  // whole request body (413 above)
  int read_timeout_s = 30;                   // a client silent this long is dropped
  int sync_timeout_s = 600;                  // POST /v1/depth waits this long for its result
};

struct HttpConfig {
  HttpLimits limits;
  std::string token;                  // bearer token; empty: none required
  std::filesystem::path web_dir;      // index.html, app.js, style.css
  std::filesystem::path three_dir;    // Debian's libjs-three: build/three.min.js, examples/js/...
  size_t max_queue = 16, max_results = 256;
  long result_ttl_s = 3600;
};

class HttpApi {
 public:
  HttpApi(HttpConfig config, TaskStore& store, const SceneEngine& engine);
  ~HttpApi();

  // Binds (port 0: any free port); returns the port bound, or throws da3::Error.
  int bind(const std::string& host, int port);
  // Serves until stop(); returns when the listening loop ended.
  void serve();
  void stop();  // safe from another thread

 private:
  void install_routes();
  HttpConfig config_;
  TaskStore& store_;
  const SceneEngine& engine_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace da3::server
