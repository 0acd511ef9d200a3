// Finds and dlopen()s libda3_media.so; see media.hpp.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "da3/error.hpp"
#include "io/media.hpp"

namespace da3::io {

namespace {

constexpr const char* kPluginFile = "libda3_media.so";

std::string executable_dir() {
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size());
  if (n <= 0 || size_t(n) >= buf.size()) return {};
  buf.resize(size_t(n));
  const size_t slash = buf.rfind('/');
  return slash == std::string::npos ? std::string() : buf.substr(0, slash);
}

// The folder of the shared object libda3 is linked into, when that is not the executable: the
// Python extension module (da3cpp/_core*.so), which ships the plugin beside it.
std::string library_dir() {
  Dl_info info{};
  if (!::dladdr(reinterpret_cast<void*>(&media_plugin_candidates), &info) || !info.dli_fname) return {};
  char* real = ::realpath(info.dli_fname, nullptr);
  if (!real) return {};
  const std::string file = real;
  std::free(real);
  const size_t slash = file.rfind('/');
  if (slash == std::string::npos) return {};
  const std::string dir = file.substr(0, slash);
  return dir == executable_dir() ? std::string() : dir;
}

const char* env_path() {
  const char* v = std::getenv("DA3_MEDIA_PLUGIN");
  return v && *v ? v : nullptr;
}

// nullptr, or the plugin at `path` with `why` left empty.
MediaPlugin* try_load(const std::string& path, std::string& why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    why = "does not exist";
    return nullptr;
  }
  // RTLD_LOCAL: OpenCV's symbols stay out of the global namespace; the plugin is reached only
  // through its two entry points.
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = ::dlerror();
    why = std::string("cannot be loaded: ") + (e ? e : "unknown dlopen error");
    return nullptr;
  }
  auto* version = reinterpret_cast<Da3MediaAbiVersionFn*>(::dlsym(lib, DA3_MEDIA_ABI_VERSION_SYMBOL));
  auto* entry = reinterpret_cast<Da3MediaPluginFn*>(::dlsym(lib, DA3_MEDIA_PLUGIN_SYMBOL));
  if (!version || !entry) {
    why = std::string("is not a da3 media plugin (no ") +
          (!version ? DA3_MEDIA_ABI_VERSION_SYMBOL : DA3_MEDIA_PLUGIN_SYMBOL) + " entry point)";
    ::dlclose(lib);
    return nullptr;
  }
  if (const int v = version(); v != kMediaPluginAbiVersion) {
    why = "is a media plugin of ABI version " + std::to_string(v) + ", this da3 needs version " +
          std::to_string(kMediaPluginAbiVersion) + " (a plugin from another build)";
    ::dlclose(lib);
    return nullptr;
  }
  MediaPlugin* p = entry();
  if (!p) {
    why = "returned no plugin object";
    ::dlclose(lib);
    return nullptr;
  }
  // Never closed on success: objects it created (video readers) may outlive any caller.
  return p;
}

}  // namespace

std::vector<std::string> media_plugin_candidates() {
  if (const char* env = env_path()) return {env};
  std::vector<std::string> c;
  if (const std::string dir = executable_dir(); !dir.empty()) {
    c.push_back(dir + "/" + kPluginFile);
#ifdef DA3_MEDIA_PLUGIN_INSTALL_SUBDIR
    // The installed layout (cmake --install): <prefix>/bin/da3 and <prefix>/<libdir>/da3/, found
    // relative to the executable so that the prefix can be moved.
    c.push_back(dir + "/../" DA3_MEDIA_PLUGIN_INSTALL_SUBDIR "/" + kPluginFile);
#endif
  }
  if (const std::string dir = library_dir(); !dir.empty() && std::find(c.begin(), c.end(), dir + "/" + kPluginFile) == c.end())
    c.push_back(dir + "/" + kPluginFile);
#ifdef DA3_MEDIA_PLUGIN_BUILD_PATH
  // Programs built in the tree but living elsewhere in it (tests/da3_tests, bench/...).
  if (c.empty() || c.front() != DA3_MEDIA_PLUGIN_BUILD_PATH) c.push_back(DA3_MEDIA_PLUGIN_BUILD_PATH);
#endif
#ifdef DA3_MEDIA_PLUGIN_INSTALL_PATH
  // C++ programs linking an installed libda3: the prefix it was configured for.
  if (std::find(c.begin(), c.end(), DA3_MEDIA_PLUGIN_INSTALL_PATH) == c.end()) c.push_back(DA3_MEDIA_PLUGIN_INSTALL_PATH);
#endif
  return c;
}

MediaPlugin& load_media_plugin(const std::vector<std::string>& candidates) {
  std::string tried;
  for (const std::string& path : candidates) {
    std::string why;
    if (MediaPlugin* p = try_load(path, why)) return *p;
    tried += (tried.empty() ? "" : "; ") + path + " (" + why + ")";
  }
  const char* env = env_path();
  throw Error(std::string("reading and writing images and video needs the media plugin ") + kPluginFile +
              " (built with da3 from OpenCV's imgcodecs and videoio), and it could not be loaded; tried: " +
              (tried.empty() ? std::string("no paths") : tried) + ". " +
              (env ? std::string("DA3_MEDIA_PLUGIN is set to '") + env + "': point it at the plugin file"
                   : std::string("Set DA3_MEDIA_PLUGIN to the plugin file's path")));
}

MediaPlugin& media() {
  static std::atomic<MediaPlugin*> loaded{nullptr};
  static std::mutex m;
  if (MediaPlugin* p = loaded.load(std::memory_order_acquire)) return *p;
  std::lock_guard<std::mutex> lock(m);
  if (MediaPlugin* p = loaded.load(std::memory_order_relaxed)) return *p;
  MediaPlugin& p = load_media_plugin(media_plugin_candidates());
  loaded.store(&p, std::memory_order_release);
  return p;
}

}  // namespace da3::io
