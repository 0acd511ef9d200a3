// `da3 pull MODEL`: downloads a published checkpoint (config.json + model.safetensors) from the
// Hugging Face hub into DIR/<name>/, resumable, each file checked against the size the hub
// reports. Offline it fails at once and says how to place the files by hand.
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_pull_command(CLI::App&).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <vector>

#include "da3/error.hpp"
#include "da3_commands.hpp"
#include "model_path.hpp"
#include "io/curl_dl.hpp"
#include "io/http_download.hpp"

namespace da3::cli {

namespace {

namespace fs = std::filesystem;

// What a checkpoint directory holds, in the order fetched: the small config first, so a wrong
// model id fails before a large transfer starts.
const char* const kFiles[] = {"config.json", "model.safetensors"};

struct RepoId {
  std::string id;    // owner/name on the hub
  std::string name;  // the directory under --dir
};

// "depth-anything/DA3-SMALL" as given; "DA3-SMALL" means the official depth-anything account.
RepoId parse_repo_id(const std::string& model) {
  static const std::regex part("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
  const auto slash = model.find('/');
  const std::string owner = slash == std::string::npos ? "depth-anything" : model.substr(0, slash);
  const std::string name = slash == std::string::npos ? model : model.substr(slash + 1);
  if (!std::regex_match(owner, part) || !std::regex_match(name, part) || name.find("..") != std::string::npos)
    throw Error("'" + model + "' is not a Hugging Face model id; use e.g. depth-anything/DA3-SMALL or DA3-SMALL");
  return {owner + "/" + name, name};
}

std::string endpoint() {
  // HF_ENDPOINT is huggingface_hub's own variable for mirrors; tests point it at a local server.
  const char* e = std::getenv("HF_ENDPOINT");
  std::string s = e && *e ? e : "https://huggingface.co";
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string by_hand(const RepoId& r, const fs::path& target, const std::string& base) {
  std::string m = "To install it by hand, download these files from " + base + "/" + r.id +
                  "/tree/main on a machine with network access and place them as:\n";
  for (const char* f : kFiles) m += "  " + (target / f).string() + "\n";
  m += "then run: da3 infer IMAGES --model " + target.string();
  return m;
}

}  // namespace

Action add_pull_command(CLI::App& app) {
  struct Opts {
    std::string model, dir = models_dir();  // where `-m NAME` looks
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "pull", "Download a checkpoint from Hugging Face (e.g. DA3-SMALL, Apache-2.0) into DIR/<name>/");
  cmd->add_option("model", o->model, "Hub model id (depth-anything/DA3-SMALL) or a short name (DA3-SMALL)")->required();
  cmd->add_option("-d,--dir", o->dir, "Directory that receives <name>/config.json and <name>/model.safetensors (default $DA3_MODELS_DIR, "
                  "else models)")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  cmd->footer("Then: da3 infer IMAGES -m <name> finds DIR/<name> when DIR is $DA3_MODELS_DIR (or models/).\n"
              "Environment: HF_ENDPOINT (hub address, default https://huggingface.co), HF_TOKEN (gated models).\n"
              "An interrupted download resumes from DIR/<name>/<file>.part on the next call.");

  return [o] {
    const RepoId repo = parse_repo_id(o->model);
    const fs::path target = fs::path(o->dir) / repo.name;
    const std::string base = endpoint();
    io::DownloadOptions dl;
    dl.progress = !o->quiet && ::isatty(2);
    if (const char* tok = std::getenv("HF_TOKEN"); tok && *tok) dl.bearer_token = tok;

    bool all_present = true;
    for (const char* f : kFiles) all_present = all_present && fs::is_regular_file(target / f);
    if (all_present) {  // files appear only complete (renamed from .part), so present means done
      if (!o->quiet) std::fprintf(stderr, "%s is already in %s\n", repo.id.c_str(), target.string().c_str());
      return 0;
    }
    io::curl_api();  // libcurl is loaded at run time: say it is missing before creating anything
    std::error_code ec;
    // Every directory this call creates (models/ too on a first pull), deepest first: a failed
    // download removes those it left empty and nothing else (a .part to resume keeps its folder).
    std::vector<fs::path> created;
    for (fs::path p = fs::absolute(target, ec); !p.empty() && !fs::exists(p); p = p.parent_path()) {
      created.push_back(p);
      if (p == p.parent_path()) break;
    }
    fs::create_directories(target, ec);
    if (ec) throw Error("cannot create '" + target.string() + "': " + ec.message());

    for (const char* f : kFiles) {
      const fs::path dest = target / f;
      if (fs::is_regular_file(dest)) continue;
      const std::string url = base + "/" + repo.id + "/resolve/main/" + f;
      try {
        const int64_t size = io::http_remote_size(url, dl);
        if (!o->quiet && !dl.progress)
          std::fprintf(stderr, "downloading %s (%lld bytes)\n", url.c_str(), static_cast<long long>(size));
        io::http_download(url, dest.string(), size, dl);
      } catch (const io::DownloadError& e) {
        for (const fs::path& dir : created)
          if (!fs::remove(dir, ec)) break;  // remove() removes only an empty directory
        using K = io::DownloadError::Kind;
        if (e.kind == K::Unreachable)
          throw Error(std::string(e.what()) + " (no network?).\n" + by_hand(repo, target, base));
        if (e.kind == K::Http && e.status == 404)
          throw Error(repo.id + " has no file '" + f + "' on " + base + " (HTTP 404): check the model id " +
                      "(e.g. depth-anything/DA3-SMALL)");
        if (e.kind == K::Http && (e.status == 401 || e.status == 403))
          throw Error(repo.id + ": access denied (HTTP " + std::to_string(e.status) +
                      "); for a gated model accept its terms on the hub and set HF_TOKEN.\n" + by_hand(repo, target, base));
        throw Error(std::string(e.what()) + "\nRun the same command again to resume.");
      }
    }
    if (!o->quiet)
      std::fprintf(stderr, "%s is in %s; run: da3 infer IMAGES --model %s\n", repo.id.c_str(), target.string().c_str(),
                   target.string().c_str());
    return 0;
  };
}

}  // namespace da3::cli
