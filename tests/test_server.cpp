// `da3 serve` end to end: a real server process on a free loopback port, driven over HTTP with
// cpp-httplib's client. Results are compared with `da3 infer` on the same inputs, not with
// stored numbers. Servers: a plain one (most tests); one with a token and tight limits; one with
// a 1 s result TTL, then a second on its folder (expiry, restart, shutdown); a monocular model.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "da3/tensor.hpp"
#include "io/npz.hpp"
#include "server_process.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using da3::test::ServerProcess;
using da3::test::TempDir;
using json = nlohmann::json;
using Items = httplib::MultipartFormDataItems;

std::string model_dir() { return da3::test::fixtures_dir() + "/tiny-anyview"; }
std::string sample(int i) {
  return (fs::path(DA3_FIXTURES_DIR).parent_path().parent_path() / "assets" / "samples" /
          ("view_" + std::to_string(i) + ".png"))
      .string();
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

httplib::MultipartFormData image_part(const std::string& path) {
  return {"images", read_bytes(path), fs::path(path).filename().string(), "image/png"};
}
httplib::MultipartFormData field(const std::string& name, const std::string& value) { return {name, value, "", ""}; }

// Checks the response is an error with a JSON body {"error": {"code", "message"}}; returns the code.
std::string error_code(const httplib::Result& r, int status) {
  if (!r) return "no response";
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
  const json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "not a JSON error: " + r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  return j["error"]["code"].get<std::string>();
}

// Polls a task until it is done or failed (30 s at most).
json wait_task(httplib::Client& c, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/v1/tasks/" + id);
    if (!r || r->status != 200) return json{{"state", "http " + std::to_string(r ? r->status : 0)}};
    json j = json::parse(r->body);
    if (j["state"] == "done" || j["state"] == "failed") return j;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return json{{"state", "timeout"}};
}

std::string submit(httplib::Client& c, const httplib::MultipartFormDataItems& items) {
  auto r = c.Post("/v1/inference", items);
  if (!r || r->status != 202) {
    ADD_FAILURE() << "submit: " << (r ? std::to_string(r->status) + " " + r->body : "no response");
    return "";
  }
  return json::parse(r->body)["id"];
}

class Server : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"-m", model_dir()}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  static ServerProcess* server_;
};
ServerProcess* Server::server_ = nullptr;

TEST_F(Server, HealthStatusAndOpenApiDescribeTheServer) {
  auto c = client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["ok"], true);

  auto s = c.Get("/v1/status");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200);
  const json st = json::parse(s->body);
  EXPECT_EQ(st["model"]["name"], "da3-small");  // tiny-anyview's config.json names its preset
  EXPECT_EQ(st["model"]["dir"], model_dir());
  EXPECT_EQ(st["model"]["cameras"], true);  // an any-view preset: poses, so ply / glb / colmap
  EXPECT_EQ(st["device"], "cpu");
  EXPECT_EQ(st["precision"], "fp32");
  const std::string backend = st["attention_backend"];  // resolved: what backend=auto runs here
  EXPECT_TRUE(backend == "flash_attn" || backend == "sdpa" || backend == "manual") << backend;
  EXPECT_EQ(st["queue"]["max_queue"], 16);
  EXPECT_EQ(st["limits"]["max_images"], 64);
  EXPECT_GT(st["memory"]["rss_bytes"].get<int64_t>(), 0);

  auto o = c.Get("/openapi.json");
  ASSERT_TRUE(o);
  ASSERT_EQ(o->status, 200);
  const json api = json::parse(o->body);
  EXPECT_EQ(api["openapi"].get<std::string>().substr(0, 2), "3.");
  for (const char* path : {"/healthz", "/v1/status", "/v1/inference", "/v1/tasks/{id}", "/v1/tasks/{id}/files/{path}",
                           "/v1/depth", "/openapi.json"})
    EXPECT_TRUE(api["paths"].contains(path)) << path;
  EXPECT_TRUE(api["paths"]["/v1/tasks/{id}"].contains("delete"));
  // Every $ref points at a schema that exists.
  std::function<void(const json&)> check_refs = [&](const json& j) {
    if (j.is_object()) {
      if (j.contains("$ref")) {
        const std::string ref = j["$ref"];
        ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
        EXPECT_TRUE(api["components"]["schemas"].contains(ref.substr(21))) << ref;
      }
      for (const auto& [k, v] : j.items()) check_refs(v);
    } else if (j.is_array()) {
      for (const auto& v : j) check_refs(v);
    }
  };
  check_refs(api);
}

TEST_F(Server, InferenceEqualsDaInferOnTheSameInputs) {
  TempDir tmp;
  // Poses for three views (centres not on one line: the alignment to them needs that), as
  // `da3 infer --poses` takes them.
  const std::string poses = tmp.file("poses.npz");
  {
    da3::Tensor ext = da3::Tensor::zeros({3, 4, 4}, da3::DType::F32), K = da3::Tensor::zeros({3, 3, 3}, da3::DType::F32);
    float* e = ext.data_as<float>();
    float* k = K.data_as<float>();
    for (int v = 0; v < 3; ++v) {
      for (int i = 0; i < 4; ++i) e[v * 16 + i * 5] = 1;
      e[v * 16 + 3] = v == 1 ? 0.3f : 0.f;  // view 1 to the side, view 2 above and behind
      e[v * 16 + 7] = v == 2 ? 0.2f : 0.f;
      e[v * 16 + 11] = v == 2 ? 0.1f : 0.f;
      k[v * 9 + 0] = k[v * 9 + 4] = 300;
      k[v * 9 + 2] = 160;
      k[v * 9 + 5] = 120;
      k[v * 9 + 8] = 1;
    }
    da3::io::NpzWriter w(poses);
    w.add("extrinsics", ext);
    w.add("intrinsics", K);
    w.commit();
  }
  struct Case {
    bool with_poses;
    std::string cli_flags;
    httplib::MultipartFormDataItems fields;  // the same options as form fields, both spellings
  };
  const std::vector<Case> cases = {
      {false, "-f npz,depth16,glb --process-res 140 --ref-view first --conf-percentile 30",
       {field("format", "npz,depth16,glb"), field("process-res", "140"), field("ref_view", "first"),
        field("conf_percentile", "30")}},
      {true, "-f npz --process-res 112 --process-res-method upper_bound_crop --ray-pose",
       {field("format", "npz"), field("process_res", "112"), field("process-res-method", "upper_bound_crop"),
        field("ray_pose", "1")}},
  };
  auto c = client();
  for (const auto& cs : cases) {
    SCOPED_TRACE(cs.cli_flags);
    const std::string out = tmp.file(cs.with_poses ? "cli_posed" : "cli");
    const std::string views = sample(0) + " " + sample(1) + (cs.with_poses ? " " + sample(2) : "");
    const auto cli = da3::test::run_cli("infer " + views + " -m " + model_dir() + " -q " +
                                        cs.cli_flags + (cs.with_poses ? " --poses " + poses : "") + " -o " + out);
    ASSERT_EQ(cli.rc, 0) << cli.output;

    httplib::MultipartFormDataItems items = {image_part(sample(0)), image_part(sample(1))};
    if (cs.with_poses) items.push_back(image_part(sample(2)));
    items.insert(items.end(), cs.fields.begin(), cs.fields.end());
    if (cs.with_poses) items.push_back({"poses", read_bytes(poses), "poses.npz", "application/octet-stream"});
    const std::string id = submit(c, items);
    ASSERT_FALSE(id.empty());
    const json task = wait_task(c, id);
    ASSERT_EQ(task["state"], "done") << task.dump();
    EXPECT_EQ(task["progress"]["done"], task["progress"]["total"]);

    // The task lists exactly the files the CLI wrote, and each has the same bytes.
    std::vector<std::string> cli_files;
    for (const auto& e : fs::recursive_directory_iterator(out))
      if (e.is_regular_file() && e.path().filename() != "da3_manifest.json")  // the CLI's run record, not a result
        cli_files.push_back(fs::relative(e.path(), out).generic_string());
    std::sort(cli_files.begin(), cli_files.end());
    ASSERT_EQ(task["files"].get<std::vector<std::string>>(), cli_files);
    for (const auto& f : cli_files) {
      auto r = c.Get("/v1/tasks/" + id + "/files/" + f);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << f;
      if (fs::path(f).extension() == ".json") {  // depth16 metadata: names its source (a different path)
        json a = json::parse(r->body), b = json::parse(read_bytes(fs::path(out) / f));
        EXPECT_EQ(fs::path(a["source"].get<std::string>()).filename(), fs::path(b["source"].get<std::string>()).filename());
        a.erase("source"), b.erase("source");
        EXPECT_EQ(a, b) << f;
      } else {
        EXPECT_TRUE(r->body == read_bytes(fs::path(out) / f)) << f << " differs from da3 infer's";
      }
    }
    // Deleted: gone from the API and from disk.
    auto d = c.Delete("/v1/tasks/" + id);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->status, 204);
    EXPECT_EQ(error_code(c.Get("/v1/tasks/" + id), 404), "unknown_task");
    EXPECT_EQ(error_code(c.Delete("/v1/tasks/" + id), 404), "unknown_task");
  }
}

TEST_F(Server, DepthReturnsA16BitPngWithItsScaleOrAnNpz) {
  TempDir tmp;
  const auto cli = da3::test::run_cli("infer " + sample(2) + " -m " + model_dir() + " -q -f depth16,mini_npz " +
                                      "--process-res 154 -o " + tmp.path().string());
  ASSERT_EQ(cli.rc, 0) << cli.output;
  const json meta = json::parse(read_bytes(tmp.path() / "depth16" / "0000_view_2.json"));
  auto c = client();

  auto r = c.Post("/v1/depth", Items{image_part(sample(2)), field("process_res", "154")});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
  // Walk the chunks: every CRC right (checked here bit by bit, not with the server's code), and
  // a tEXt depth_scale equal to the CLI's depth16 scale.
  const std::string& png = r->body;
  ASSERT_GT(png.size(), 8u);
  std::string scale_text;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t len = (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
                         (uint32_t(uint8_t(png[at + 2])) << 8) | uint8_t(png[at + 3]);
    ASSERT_LE(at + 12 + len, png.size());
    uint32_t crc = 0xffffffffu;
    for (size_t i = at + 4; i < at + 8 + len; ++i) {
      crc ^= uint8_t(png[i]);
      for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    const size_t c_at = at + 8 + len;
    const uint32_t stored = (uint32_t(uint8_t(png[c_at])) << 24) | (uint32_t(uint8_t(png[c_at + 1])) << 16) |
                            (uint32_t(uint8_t(png[c_at + 2])) << 8) | uint8_t(png[c_at + 3]);
    EXPECT_EQ(crc ^ 0xffffffffu, stored) << "chunk " << png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, len);
    if (png.substr(at + 4, 4) == "tEXt" && data.rfind(std::string("depth_scale\0", 12), 0) == 0)
      scale_text = data.substr(12);
    at = c_at + 4;
  }
  ASSERT_FALSE(scale_text.empty()) << "no tEXt depth_scale chunk";
  EXPECT_NEAR(std::stod(scale_text), meta["scale"].get<double>(), 1e-9 * meta["scale"].get<double>());
  EXPECT_EQ(r->get_header_value("X-Depth-Scale"), scale_text);
  // The pixels are the CLI's depth16 pixels.
  const cv::Mat got = cv::imdecode(std::vector<uint8_t>(png.begin(), png.end()), cv::IMREAD_UNCHANGED);
  const cv::Mat want = cv::imread((tmp.path() / "depth16" / "0000_view_2.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(got.type(), CV_16UC1);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0);

  auto n = c.Post("/v1/depth", Items{image_part(sample(2)), field("process-res", "154"), field("format", "npz")});
  ASSERT_TRUE(n);
  ASSERT_EQ(n->status, 200) << n->body;
  EXPECT_TRUE(n->body == read_bytes(tmp.path() / "results_mini.npz"));

  // The synchronous task is not left behind.
  EXPECT_EQ(json::parse(c.Get("/v1/status")->body)["results"]["stored"], 0);
}

TEST_F(Server, MalformedRequestsGetJsonErrors) {
  auto c = client();
  const auto img = image_part(sample(0));
  // Not multipart at all.
  EXPECT_EQ(error_code(c.Post("/v1/inference", "{}", "application/json"), 415), "unsupported_media_type");
  // A multipart body cut short (no closing boundary).
  EXPECT_EQ(error_code(c.Post("/v1/inference", "--zz\r\nContent-Disposition: form-data; name=\"images\"\r\n\r\nabc",
                              "multipart/form-data; boundary=zz"),
                       400),
            "bad_request");
  EXPECT_EQ(error_code(c.Post("/v1/inference", httplib::MultipartFormDataItems{field("format", "npz")}), 400), "no_images");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, {"images", "hello, not an image", "a.png", "image/png"}}), 415),
            "not_an_image");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("format", "npz,tiff")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("process_res", "13")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("process_res", "140px")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("ray_pose", "yes")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("ref_view", "last")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("backend", "cudnn")}), 400), "bad_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("colour", "red")}), 400), "unknown_option");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, field("format", "npz"), field("format", "ply")}), 400),
            "bad_request");
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, {"poses", "PK\x03\x04 junk", "p.npz", ""}}), 400), "bad_poses");
  EXPECT_EQ(error_code(c.Post("/v1/depth", Items{img, img}), 400), "bad_request");
  EXPECT_EQ(error_code(c.Post("/v1/depth", Items{img, field("format", "ply")}), 400), "bad_option");
  // Unknown tasks, ids of any shape, unknown endpoints.
  EXPECT_EQ(error_code(c.Get("/v1/tasks/0123456789abcdef0123456789abcdef"), 404), "unknown_task");
  EXPECT_EQ(error_code(c.Get("/v1/tasks/..%2F..%2Fetc"), 404), "not_found");  // decoded: no route
  EXPECT_EQ(error_code(c.Delete("/v1/tasks/nope"), 404), "unknown_task");
  EXPECT_EQ(error_code(c.Get("/v1/tasks/0123456789abcdef0123456789abcdef/files/results.npz"), 404), "unknown_task");
  EXPECT_EQ(error_code(c.Get("/v1/nothing"), 404), "not_found");
  // Nothing was queued by any of these.
  EXPECT_EQ(json::parse(c.Get("/v1/status")->body)["results"]["stored"], 0);
}

TEST_F(Server, ResultFilesCannotLeaveTheTaskFolder) {
  auto c = client();
  const std::string id = submit(c, {image_part(sample(0)), field("format", "depth_png"), field("process_res", "70")});
  ASSERT_EQ(wait_task(c, id)["state"], "done");
  const std::string base = "/v1/tasks/" + id + "/files/";
  auto ok = c.Get(base + "depth_png/0000_view_0.png");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // httplib's client sends the path as given; the server must refuse every spelling.
  for (const std::string p : {"../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd",
                              "depth_png/../depth_png/0000_view_0.png", "/etc/passwd", "depth_png", "inputs/view_0.png",
                              "depth_png/0000_view_0.png%00.txt"}) {
    EXPECT_EQ(error_code(c.Get(base + p), 404), "not_found") << p;
  }
  EXPECT_EQ(c.Delete("/v1/tasks/" + id)->status, 204);
}

TEST_F(Server, AnImageThatDoesNotDecodeFailsItsTask) {
  auto c = client();
  std::string png = read_bytes(sample(1));
  png.resize(200);  // the header is intact, the pixels are gone
  const std::string id = submit(c, {{"images", png, "cut.png", "image/png"}});
  const json t = wait_task(c, id);
  ASSERT_EQ(t["state"], "failed") << t.dump();
  EXPECT_EQ(t["error"]["code"], "inference_failed");
  EXPECT_TRUE(t["files"].empty());
  EXPECT_EQ(error_code(c.Get("/v1/tasks/" + id + "/files/results.npz"), 404), "unknown_task");
  EXPECT_EQ(error_code(c.Post("/v1/depth", Items{{"images", png, "cut.png", "image/png"}}), 422), "inference_failed");
  EXPECT_EQ(c.Delete("/v1/tasks/" + id)->status, 204);
}

TEST_F(Server, ThePageAndItsScriptsAreServedLocally) {
  auto c = client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  // Every script and stylesheet the page names is served by this process (no CDN).
  size_t n = 0;
  for (const std::string attr : {"src=\"", "href=\""}) {
    for (size_t at = page->body.find(attr); at != std::string::npos; at = page->body.find(attr, at + 1)) {
      const std::string url = page->body.substr(at + attr.size(), page->body.find('"', at + attr.size()) - at - attr.size());
      if (url.rfind("data:", 0) == 0) continue;
      ASSERT_EQ(url[0], '/') << url << " is not local";
      auto r = c.Get(url);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200) << url;
      EXPECT_GT(r->body.size(), 100u) << url;
      ++n;
    }
  }
  EXPECT_GE(n, 5u);  // style.css, three.min.js, OrbitControls.js, GLTFLoader.js, app.js
}

// A token, tight limits and a queue of one.
TEST(ServerLimits, TokenImageCountUploadSizeAndQueue) {
  ServerProcess s({"-m", model_dir(), "--token", "s3cret", "--max-images", "2", "--max-upload-mb", "1",
                   "--max-queue", "1"});
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  // Without or with a wrong token: 401 everywhere but /healthz.
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  for (const char* path : {"/v1/status", "/openapi.json", "/", "/v1/tasks/0123456789abcdef0123456789abcdef"})
    EXPECT_EQ(error_code(c.Get(path), 401), "unauthorized") << path;
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{image_part(sample(0))}), 401), "unauthorized");
  c.set_bearer_token_auth("s3cre");
  EXPECT_EQ(error_code(c.Get("/v1/status"), 401), "unauthorized");
  c.set_bearer_token_auth("s3cret");
  EXPECT_EQ(c.Get("/v1/status")->status, 200);

  const auto img = image_part(sample(0));
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, img, img}), 413), "too_many_images");
  const std::string big(1 << 20, 'x');
  EXPECT_EQ(error_code(c.Post("/v1/inference", Items{img, {"images", big, "big.png", "image/png"}}), 413),
            "payload_too_large");

  // A queue of one: a slow task runs, one waits, the rest are turned away with Retry-After.
  httplib::MultipartFormDataItems slow = {img, img, field("process_res", "1008"), field("format", "npz")};
  int accepted = 0, refused = 0;
  std::vector<std::string> ids;
  // Submitting until one was refused and two accepted (20 at most) keeps this independent of the
  // machine's speed and of when the worker picks the first task up (until then it is waiting).
  for (int i = 0; i < 20 && (refused == 0 || accepted < 2); ++i) {
    auto r = c.Post("/v1/inference", slow);
    ASSERT_TRUE(r);
    if (r->status == 202) {
      ++accepted;
      ids.push_back(json::parse(r->body)["id"]);
    } else {
      EXPECT_EQ(error_code(r, 503), "queue_full");
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
      ++refused;
    }
  }
  EXPECT_GE(accepted, 2);
  EXPECT_GE(refused, 1);
  // Deleting the queued one cancels it; the running one still finishes.
  const json queued = json::parse(c.Get("/v1/tasks/" + ids.back())->body);
  if (queued["state"] == "queued") {
    EXPECT_EQ(c.Delete("/v1/tasks/" + ids.back())->status, 204);
    ids.pop_back();
  }
  for (const auto& id : ids) EXPECT_EQ(wait_task(c, id)["state"], "done");
  EXPECT_EQ(s.stop(), 0) << s.log();
}

// Results older than --result-ttl are deleted, files and all; SIGTERM lets a running task finish.
TEST(ServerLifetime, ResultsExpireAndSigtermIsGraceful) {
  TempDir results;
  ServerProcess s({"-m", model_dir(), "--result-ttl", "1", "--results-dir", results.path().string(),
                   "--read-timeout", "1"});
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);

  // A client that announces a body and stalls is dropped after --read-timeout, and nothing of
  // its request is left on disk.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(s.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string head =
        "POST /v1/inference HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 100000\r\n\r\n--b\r\n";
    ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    EXPECT_EQ(c.Get("/healthz")->status, 200);  // others are served meanwhile
    const auto t0 = std::chrono::steady_clock::now();
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // The answer comes once the read times out: a JSON 400 saying the connection closes (httplib
    // then still holds the socket for its 5 s keep-alive, so the close itself is not timed).
    std::string answer;
    char buf[512];
    ssize_t n;
    while (answer.find("}}") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, n);
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(waited, 5.0) << "the stalled request was not dropped";
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
    EXPECT_NE(answer.find("{\"error\":"), std::string::npos) << answer;
    ::close(fd);
    EXPECT_TRUE(fs::is_empty(results.path()));
  }
  const std::string id = submit(c, {image_part(sample(0)), field("process_res", "70")});
  ASSERT_EQ(wait_task(c, id)["state"], "done");
  EXPECT_TRUE(fs::exists(results.path() / id / "out" / "results.npz"));
  EXPECT_FALSE(fs::exists(results.path() / id / "inputs"));  // uploads dropped once run
  // An upload named like a path is stored under its base name inside the task's folder.
  const fs::path escape = results.path().parent_path() / ("da3-serve-escape-" + std::to_string(s.port()) + ".png");
  const std::string named = submit(c, {{"images", read_bytes(sample(0)), "../../../" + escape.filename().string(), "image/png"},
                                       field("process_res", "70")});
  ASSERT_EQ(wait_task(c, named)["state"], "done");
  EXPECT_FALSE(fs::exists(escape)) << "an upload was written outside its task";
  // Gone within a few seconds (the TTL is 1 s; expiry runs every second).
  const auto expiry_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (c.Get("/v1/tasks/" + id)->status == 200 && std::chrono::steady_clock::now() < expiry_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(error_code(c.Get("/v1/tasks/" + id), 404), "unknown_task");
  while (c.Get("/v1/tasks/" + named)->status == 200 && std::chrono::steady_clock::now() < expiry_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fs::exists(results.path() / id));
  EXPECT_FALSE(fs::exists(results.path() / named));

  // A finished task's folder is left by a stop; the next server on the folder removes it (no
  // task of its own knows it). That server keeps results for the default hour, so what follows
  // sees the shutdown's own cleanup, not the expiry's.
  const std::string left = submit(c, {image_part(sample(0)), field("process_res", "70")});
  ASSERT_EQ(wait_task(c, left)["state"], "done");
  ASSERT_EQ(s.stop(), 0) << s.log();
  ASSERT_TRUE(fs::exists(results.path() / left));
  ServerProcess s2({"-m", model_dir(), "--results-dir", results.path().string()});
  EXPECT_FALSE(fs::exists(results.path() / left));
  httplib::Client c2("127.0.0.1", s2.port());
  c2.set_read_timeout(60, 0);

  // A slow task, then SIGTERM while it runs: it completes on disk and the process exits 0.
  const std::string slow = submit(c2, {image_part(sample(0)), image_part(sample(1)), field("process_res", "1008")});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (json::parse(c2.Get("/v1/tasks/" + slow)->body)["state"] == "queued" &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // A second one waits behind it: the shutdown fails it and removes its uploads. (Should the
  // first finish before the signal, the second runs instead: then its results are complete.)
  const std::string waiting = submit(c2, {image_part(sample(2)), field("process_res", "70")});
  EXPECT_EQ(s2.stop(), 0) << s2.log();
  EXPECT_NE(s2.log().find("da3 serve: stopped"), std::string::npos) << s2.log();
  EXPECT_TRUE(fs::exists(results.path() / slow / "out" / "results.npz")) << s2.log();
  EXPECT_TRUE(!fs::exists(results.path() / waiting) ||
              (fs::exists(results.path() / waiting / "out" / "results.npz") &&
               !fs::exists(results.path() / waiting / "inputs")))
      << "a task the shutdown failed left files behind";
  for (const auto& e : fs::recursive_directory_iterator(results.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

// A monocular model has no cameras: status says so (the page then asks for depth only), and a
// depth-only task runs.
TEST(ServerMono, StatusSaysNoCamerasAndDepthRuns) {
  ServerProcess s({"-m", da3::test::fixtures_dir() + "/tiny-mono"});
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  EXPECT_EQ(json::parse(c.Get("/v1/status")->body)["model"]["cameras"], false);
  const std::string id = submit(c, {image_part(sample(0)), field("format", "depth_png"), field("process_res", "70")});
  const json t = wait_task(c, id);
  EXPECT_EQ(t["state"], "done") << t.dump();
  EXPECT_EQ(t["files"], json::array({"depth_png/0000_view_0.png"}));
  EXPECT_EQ(s.stop(), 0) << s.log();
}

TEST(ServerCli, RefusesBadArgumentsBeforeListening) {
  const auto no_model = da3::test::run_cli("serve --port 0 -m /nonexistent/model");
  EXPECT_NE(no_model.rc, 0);
  EXPECT_EQ(no_model.output.find("listening"), std::string::npos) << no_model.output;
  const auto bad_device = da3::test::run_cli("serve --port 0 -m " + model_dir() + " --device tpu");
  EXPECT_NE(bad_device.rc, 0);
  EXPECT_NE(bad_device.output.find("--device"), std::string::npos) << bad_device.output;
  const auto help = da3::test::run_cli("serve --help");
  EXPECT_EQ(help.rc, 0);
  for (const char* flag : {"--host", "--port", "--max-queue", "--max-images", "--max-upload-mb", "--result-ttl",
                           "--results-dir", "--token"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
}

}  // namespace
