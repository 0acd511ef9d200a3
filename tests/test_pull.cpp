// `da3 pull`: argument errors, the offline failure (at once, saying how to place the files by
// hand), and downloads against a local HTTP server the test starts (python3): fresh, resumed
// from a .part with a Range request, and from a server that ignores Range. Never the real hub.
// Also the error when libcurl (dlopen'ed, io/curl_dl.hpp) cannot be loaded.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "da3/error.hpp"
#include "io/curl_dl.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace {

using da3::test::CliRun;

CliRun run_da3(const std::string& env, const std::string& args) { return da3::test::run_cli(args, env); }

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// A hub-shaped static server on 127.0.0.1 (port chosen by the OS): HEAD gives Content-Length,
// GET honours "Range: bytes=N-" with 206 when `ranges`, and logs each GET's Range header.
const char* kServer = R"PY(
import http.server, os, sys
root, ranges, port_file, log = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def body(self):
        p = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(p):
            self.send_error(404)
            return None
        return open(p, "rb").read()
    def do_HEAD(self):
        d = self.body()
        if d is None: return
        self.send_response(200)
        self.send_header("Content-Length", str(len(d)))
        self.end_headers()
    def do_GET(self):
        d = self.body()
        if d is None: return
        r = self.headers.get("Range")
        with open(log, "a") as f: f.write("GET %s Range=%s\n" % (self.path, r))
        if r and ranges:
            start = int(r[len("bytes="):].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(d) - 1, len(d)))
            d = d[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(d)))
        self.end_headers()
        self.wfile.write(d)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
)PY";

class LocalHub {
 public:
  LocalHub(const da3::test::TempDir& d, bool ranges) : log_(d.file(ranges ? "log_r" : "log_n")) {
    const std::string script = d.file("hub.py"), port_file = d.file(ranges ? "port_r" : "port_n");
    std::ofstream(script) << kServer;
    root_ = d.file("hub");
    fs::create_directories(root_ + "/depth-anything/DA3-TINY/resolve/main");
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(da3::test::fixtures_dir() + "/tiny-anyview/" + f,
                    root_ + "/depth-anything/DA3-TINY/resolve/main/" + f, fs::copy_options::overwrite_existing);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("python3", "python3", script.c_str(), root_.c_str(), ranges ? "1" : "0", port_file.c_str(),
               log_.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (fs::exists(port_file)) url_ = "http://127.0.0.1:" + slurp(port_file);
  }
  ~LocalHub() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }  // empty if the server did not start
  std::string log() const { return slurp(log_); }
  std::string file(const std::string& name) const { return root_ + "/depth-anything/DA3-TINY/resolve/main/" + name; }

 private:
  std::string root_, url_, log_;
  pid_t pid_ = -1;
};

bool have_python3() { return std::system("python3 -c 'import http.server' >/dev/null 2>&1") == 0; }

}  // namespace

TEST(Pull, ArgumentErrors) {
  CliRun r = run_da3("", "pull");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.output.find("model is required"), std::string::npos) << r.output;
  for (const char* bad : {"'bad id!'", "a/b/c", "depth-anything/..", "/DA3-SMALL"}) {
    r = run_da3("", std::string("pull ") + bad);
    EXPECT_EQ(r.rc, 1) << bad << "\n" << r.output;
    EXPECT_NE(r.output.find("is not a Hugging Face model id"), std::string::npos) << bad << "\n" << r.output;
  }
}

TEST(Pull, OfflineFailsAtOnceAndSaysHowToPlaceTheFiles) {
  da3::test::TempDir d;
  // Port 1 on the loopback refuses connections: the same failure as having no network, without
  // depending on whether this machine can reach the hub.
  const auto t0 = std::chrono::steady_clock::now();
  const CliRun r = run_da3("HF_ENDPOINT=http://127.0.0.1:1", "pull DA3-SMALL --dir " + d.file("models"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_LT(seconds, 10.0);
  EXPECT_NE(r.output.find("da3: error: cannot reach"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("depth-anything/DA3-SMALL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(d.file("models") + "/DA3-SMALL/config.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(d.file("models") + "/DA3-SMALL/model.safetensors"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d.file("models/DA3-SMALL/config.json")));
  EXPECT_FALSE(fs::exists(d.file("models/DA3-SMALL")));  // nothing left behind
}

TEST(Pull, DownloadsResumesAndVerifies) {
  if (!have_python3()) GTEST_SKIP() << "python3 is not installed: no local HTTP server for the download test";
  da3::test::TempDir d;
  LocalHub hub(d, /*ranges=*/true);
  ASSERT_FALSE(hub.url().empty()) << "the local HTTP server did not start";
  const std::string env = "HF_ENDPOINT=" + hub.url();
  const std::string dir = d.file("models");
  const std::string weights = slurp(hub.file("model.safetensors"));
  ASSERT_GT(weights.size(), 5000u);

  // A part holding a true prefix is resumed with a Range request, not downloaded again.
  fs::create_directories(dir + "/DA3-TINY");
  std::ofstream(dir + "/DA3-TINY/model.safetensors.part", std::ios::binary) << weights.substr(0, 4000);
  CliRun r = run_da3(env, "pull depth-anything/DA3-TINY --dir " + dir);
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(slurp(dir + "/DA3-TINY/model.safetensors"), weights);
  EXPECT_EQ(slurp(dir + "/DA3-TINY/config.json"), slurp(hub.file("config.json")));
  EXPECT_FALSE(fs::exists(dir + "/DA3-TINY/model.safetensors.part"));
  EXPECT_NE(hub.log().find("model.safetensors Range=bytes=4000-"), std::string::npos) << hub.log();
  EXPECT_NE(hub.log().find("config.json Range=None"), std::string::npos) << hub.log();

  // Complete files are not fetched again.
  const std::string log_before = hub.log();
  r = run_da3(env, "pull DA3-TINY --dir " + dir);
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("already in"), std::string::npos) << r.output;
  EXPECT_EQ(hub.log(), log_before);

  // A model the hub does not have.
  r = run_da3(env, "pull DA3-NOPE --dir " + dir);
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("HTTP 404"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/DA3-NOPE/config.json"));
}

TEST(Pull, ServerIgnoringRangeRewritesThePart) {
  if (!have_python3()) GTEST_SKIP() << "python3 is not installed: no local HTTP server for the download test";
  da3::test::TempDir d;
  LocalHub hub(d, /*ranges=*/false);
  ASSERT_FALSE(hub.url().empty()) << "the local HTTP server did not start";
  const std::string dir = d.file("models");
  fs::create_directories(dir + "/DA3-TINY");
  // Not a prefix of the file: had it been kept, the result would be corrupt.
  std::ofstream(dir + "/DA3-TINY/model.safetensors.part", std::ios::binary) << std::string(3000, 'x');
  const CliRun r = run_da3("HF_ENDPOINT=" + hub.url(), "pull DA3-TINY --dir " + dir);
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(slurp(dir + "/DA3-TINY/model.safetensors"), slurp(hub.file("model.safetensors")));
  EXPECT_NE(hub.log().find("model.safetensors Range=bytes=3000-"), std::string::npos) << hub.log();
  EXPECT_FALSE(fs::exists(dir + "/DA3-TINY/model.safetensors.part"));
}

namespace {

// The message of the da3::Error that load_curl_api(soname) throws ("" when it loads).
std::string curl_load_error(const std::string& soname) {
  try {
    da3::io::load_curl_api(soname);
  } catch (const da3::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Pull, LibcurlIsLoadedAtRunTime) {
  const da3::io::CurlApi& api = da3::io::curl_api();
  EXPECT_NE(api.easy_setopt, nullptr);
  EXPECT_NE(api.slist_free_all, nullptr);

  // The library is missing: what to install, and what dlopen said.
  std::string what = curl_load_error("libcurl-da3-test-missing.so.4");
  EXPECT_NE(what.find("`da3 pull` needs libcurl (Debian package libcurl4)"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot load libcurl-da3-test-missing.so.4"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot open shared object file"), std::string::npos) << what;

  // A library that is not libcurl (here libc): the first symbol it lacks.
  Dl_info libc{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&::getpid), &libc), 0);
  what = curl_load_error(libc.dli_fname);
  EXPECT_NE(what.find("`da3 pull` needs libcurl"), std::string::npos) << what;
  EXPECT_NE(what.find("has no symbol curl_global_init"), std::string::npos) << what;
  EXPECT_NE(what.find("undefined symbol: curl_global_init)"), std::string::npos) << what;  // dlerror's words
}

TEST(Pull, CliSaysWhenLibcurlCannotBeLoaded) {
  // A libcurl.so.4 earlier on the search path that is libc in disguise: the CLI's libcurl is
  // unusable without uninstalling the real one. Not when a library the CLI links needs libcurl
  // itself (OpenCV's GDAL/HDF5 do): the CLI would not start.
  const CliRun deps = run_da3("LD_TRACE_LOADED_OBJECTS=1", "");
  if (deps.output.find("libcurl.so.4") != std::string::npos)
    GTEST_SKIP() << "a library the CLI links loads libcurl.so.4 at startup";
  da3::test::TempDir d;
  Dl_info libc{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&::getpid), &libc), 0);
  fs::create_symlink(libc.dli_fname, d.file("libcurl.so.4"));
  const CliRun r = run_da3("LD_LIBRARY_PATH=" + d.path().string() + " HF_ENDPOINT=http://127.0.0.1:1",
                           "pull DA3-SMALL --dir " + d.file("models"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("da3: error: `da3 pull` needs libcurl (Debian package libcurl4)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("has no symbol curl_global_init"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d.file("models/DA3-SMALL"))) << "nothing is created before libcurl is known to load";
}
