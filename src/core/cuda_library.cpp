#include "core/cuda_library.hpp"

#include <dlfcn.h>
#include <glob.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <sys/stat.h>

#include "da3/error.hpp"

namespace da3 {

namespace {

bool is_dir(const std::string& p) {
  struct stat st{};
  return !p.empty() && stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::vector<std::string> cuda_library_dirs() {
  std::vector<std::string> dirs;
  auto add = [&](const std::string& d) {
    if (is_dir(d) && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  };
  std::stringstream extra(env("DA3_CUDA_LIB_DIRS"));
  for (std::string d; std::getline(extra, d, ':');) add(d);
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (!env(var).empty()) add(env(var) + "/lib64");
  add("/usr/local/cuda/lib64");
  std::vector<std::string> versioned = glob_dirs("/usr/local/cuda-*/lib64");
  std::sort(versioned.rbegin(), versioned.rend());  // newest first (cuda-13.0 before cuda-12.8)
  for (const std::string& d : versioned) add(d);
  // Python wheels: torch depends on nvidia-cublas-cu12 / nvidia-cudnn-cu12 and the like, which
  // put the libraries in site-packages/nvidia/<name>/lib (CUDA 13 wheels: nvidia/cu13/lib).
  std::vector<std::string> prefixes;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (!env(var).empty()) prefixes.push_back(env(var) + "/lib");
  if (!env("HOME").empty()) prefixes.push_back(env("HOME") + "/.local/lib");
  for (const char* p : {"/usr/local/lib", "/usr/lib", "/opt/conda/lib"}) prefixes.emplace_back(p);
  for (const std::string& pre : prefixes)
    for (const char* site : {"site-packages", "dist-packages"})
      for (const std::string& d : glob_dirs(pre + "/python3*/" + site + "/nvidia/*/lib")) add(d);
  return dirs;
}

void* load_cuda_library(const std::string& soname, const std::string& purpose) {
  if (void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL)) return lib;
  std::string first_error;
  if (const char* why = dlerror()) first_error = why;
  const std::vector<std::string> dirs = cuda_library_dirs();
  for (const std::string& d : dirs) {
    const std::string path = d + "/" + soname;
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) continue;
    if (void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return lib;
    if (const char* why = dlerror()) first_error = why;  // present but unloadable: say why
  }
  std::string searched = "the loader's default path";
  for (const std::string& d : dirs) searched += ", " + d;
  throw Error("cannot load " + soname + " (needed for " + purpose + "): " +
              (first_error.empty() ? "not found" : first_error) + "; searched " + searched +
              ". Install it (it ships with the CUDA toolkit and as a pip wheel beside torch) or set "
              "DA3_CUDA_LIB_DIRS to the folder that holds it");
}

void* cuda_library_symbol(void* lib, const std::string& soname, const char* symbol) {
  void* fn = dlsym(lib, symbol);
  if (!fn)
    throw Error(soname + " has no symbol " + symbol + " (a library older than the CUDA " +
                "toolkit this build used? set DA3_CUDA_LIB_DIRS to a newer one)");
  return fn;
}

}  // namespace da3
