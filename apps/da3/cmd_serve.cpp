// `da3 serve`: the model loaded once, behind an HTTP API and a web page (docs/server.md).
// Registration (da3_commands.hpp + main.cpp): Action add_serve_command(CLI::App&).
// The pieces live in server/: task_store (queue, worker, results), scene_engine (the model and
// the run, as `da3 infer`), upload (multipart to task inputs), http_api (routes), openapi.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "da3/error.hpp"
#include "da3_commands.hpp"
#include "scene_runner.hpp"
#include "server/http_api.hpp"
#include "server/scene_engine.hpp"
#include "server/task_store.hpp"

namespace da3::cli {

namespace fs = std::filesystem;

namespace {

// SIGTERM / SIGINT write a byte here; a thread waiting on the other end stops the server. (A
// signal handler may only do async-signal-safe things; stopping httplib is not one.)
int g_signal_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  const char c = 's';
  [[maybe_unused]] const auto n = ::write(g_signal_pipe[1], &c, 1);
}

void install_stop_signals() {
  if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0) throw Error("pipe2 failed");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-download is not a reason to die
}

bool is_task_folder_name(const std::string& n) {
  return n.size() == 32 && n.find_first_not_of("0123456789abcdef") == std::string::npos;
}

fs::path default_web_dir() {
  std::error_code ec;
  if (fs::is_regular_file(fs::path(DA3_WEB_SOURCE_DIR) / "index.html", ec)) return DA3_WEB_SOURCE_DIR;
  return DA3_WEB_INSTALL_DIR;
}

}  // namespace

Action add_serve_command(CLI::App& app) {
  struct Opts {
    std::string model, host = "127.0.0.1", device = "cpu", precision = "fp32", results_dir, token, web_dir;
    std::string three_dir = "/usr/share/javascript/three";
    int port = 8008, read_timeout = 30, sync_timeout = 600;
    size_t max_queue = 16, max_images = 64, max_upload_mb = 256, max_results = 256;
    long result_ttl = 3600;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("serve", "The model resident behind an HTTP API and a web page (docs/server.md)");
  cmd->add_option("-m,--model", o->model, "Model directory (config.json + model.safetensors); default $DA3_MODEL");
  cmd->add_option("--host", o->host, "Address to listen on (0.0.0.0: every interface; set --token then)")
      ->capture_default_str();
  cmd->add_option("--port", o->port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--device", o->device, kDeviceHelp)->capture_default_str();
  cmd->add_option("--precision", o->precision, kPrecisionHelp)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--max-queue", o->max_queue, "Tasks waiting at most (the running one not counted); more: 503")
      ->check(CLI::Range(size_t(1), size_t(100000)))
      ->capture_default_str();
  cmd->add_option("--max-images", o->max_images, "Images per request at most; more: 413")
      ->check(CLI::Range(size_t(1), size_t(100000)))
      ->capture_default_str();
  cmd->add_option("--max-upload-mb", o->max_upload_mb, "Request body size at most, MiB; more: 413")
      ->check(CLI::Range(size_t(1), size_t(1) << 20))
      ->capture_default_str();
  cmd->add_option("--result-ttl", o->result_ttl, "Seconds a finished task's results are kept")
      ->check(CLI::Range(1L, 10L * 365 * 86400))
      ->capture_default_str();
  cmd->add_option("--max-results", o->max_results, "Finished tasks kept at most (the oldest are deleted first)")
      ->check(CLI::Range(size_t(1), size_t(1000000)))
      ->capture_default_str();
  cmd->add_option("--results-dir", o->results_dir,
                  "Folder for uploads and results (task folders in it from an earlier run are deleted at start); "
                  "default: a new temporary folder, removed at exit");
  cmd->add_option("--token", o->token, "Bearer token required on every endpoint but /healthz; default $DA3_SERVER_TOKEN");
  cmd->add_option("--read-timeout", o->read_timeout, "Seconds a client may stay silent mid-request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--sync-timeout", o->sync_timeout, "Seconds POST /v1/depth waits for its result (then 504)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--web-dir", o->web_dir, "Folder of the web page (index.html, app.js, style.css); default: web/ of the source tree this da3 was built from, else the installed share/da3/web");
  cmd->add_option("--three-dir", o->three_dir, "Debian's libjs-three folder (three.js for the page)")->capture_default_str();

  return [o] {
    if (o->model.empty()) {
      const char* env = std::getenv("DA3_MODEL");
      if (!env || !*env) throw Error("no model: pass --model DIR or set DA3_MODEL (get DA3-SMALL with `da3 pull DA3-SMALL`)");
      o->model = env;
    }
    if (o->token.empty())
      if (const char* env = std::getenv("DA3_SERVER_TOKEN")) o->token = env;
    ModelOptions mo;
    parse_device(o->device, mo);
    parse_precision(o->precision, mo);

    // Where results go, before the (slow) model load, so a bad folder fails at once.
    bool own_results_dir = o->results_dir.empty();
    fs::path results_dir;
    if (own_results_dir) {
      std::string tmpl = (fs::temp_directory_path() / "da3-serve-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw Error("cannot create a temporary results folder in " + fs::temp_directory_path().string());
      results_dir = tmpl;
    } else {
      results_dir = o->results_dir;
      std::error_code ec;
      fs::create_directories(results_dir, ec);
      if (!fs::is_directory(results_dir, ec)) throw Error("--results-dir: cannot create folder '" + o->results_dir + "'");
      // No task in this process knows these: they can never be fetched again.
      for (const auto& e : fs::directory_iterator(results_dir, ec))
        if (e.is_directory() && is_task_folder_name(e.path().filename().string())) fs::remove_all(e.path(), ec);
    }

    std::fprintf(stderr, "da3 serve: loading %s\n", o->model.c_str());
    const server::SceneEngine engine(o->model, mo);
    server::TaskLimits tl;
    tl.max_queue = o->max_queue;
    tl.max_results = o->max_results;
    tl.result_ttl = std::chrono::seconds(o->result_ttl);
    server::TaskStore store(results_dir, tl, [&engine](const server::TaskInput& in, const fs::path& out,
                                                       const server::ProgressFn& progress) {
      engine.run(in, out, progress);
    });

    server::HttpConfig hc;
    hc.limits.max_images = o->max_images;
    hc.limits.max_upload_bytes = o->max_upload_mb << 20;
    hc.limits.read_timeout_s = o->read_timeout;
    hc.limits.sync_timeout_s = o->sync_timeout;
    hc.token = o->token;
    hc.web_dir = o->web_dir.empty() ? default_web_dir() : fs::path(o->web_dir);
    hc.three_dir = o->three_dir;
    hc.max_queue = o->max_queue;
    hc.max_results = o->max_results;
    hc.result_ttl_s = o->result_ttl;
    server::HttpApi api(hc, store, engine);
    const int port = api.bind(o->host, o->port);

    install_stop_signals();
    std::thread stopper([&api, &store] {
      char c;
      while (::read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
      }
      // Queued tasks fail now, not once every connection has closed (keep-alive can hold the
      // listener's threads for seconds); the running task goes on.
      store.stop_accepting();
      api.stop();
    });
    if (o->token.empty() && o->host != "127.0.0.1" && o->host != "localhost" && o->host != "::1")
      std::fprintf(stderr, "da3 serve: warning: listening on %s without --token: anyone who reaches it can use it\n",
                   o->host.c_str());
    std::fprintf(stderr, "da3 serve: listening on http://%s:%d/ (model %s, %s, %s)\n", o->host.c_str(), port,
                 engine.model().config().model_name.c_str(), o->device.c_str(), o->precision.c_str());
    std::fflush(stderr);

    api.serve();  // returns once stop() ran (a signal) or the listener failed
    on_stop_signal(0);  // the stopper thread ends either way
    stopper.join();
    std::fprintf(stderr, "da3 serve: stopping: finishing the running task, failing the queued ones\n");
    store.shutdown();
    if (own_results_dir) {
      std::error_code ec;
      fs::remove_all(results_dir, ec);
    }
    std::fprintf(stderr, "da3 serve: stopped\n");
    return 0;
  };
}

}  // namespace da3::cli
