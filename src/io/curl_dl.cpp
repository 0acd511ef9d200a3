// See curl_dl.hpp.
#include "io/curl_dl.hpp"

#include <dlfcn.h>

#include "da3/error.hpp"

namespace da3::io {

namespace {

// What to install, for every way the library can be unusable.
std::string needs(const std::string& why) { return "`da3 pull` needs libcurl (Debian package libcurl4): " + why; }

template <typename Fn>
void bind(void* lib, const char* symbol, Fn& fn, const std::string& soname) {
  dlerror();  // clear a stale message so the one below belongs to this lookup
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn) {
    const char* err = dlerror();
    const std::string why = err ? err : "unknown reason";  // dlclose may reuse dlerror's buffer
    dlclose(lib);
    throw Error(needs(soname + " has no symbol " + symbol + " (" + why + ")"));
  }
}

}  // namespace

CurlApi load_curl_api(const std::string& soname) {
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error(needs("cannot load " + soname + " (" + (why ? why : "unknown reason") + ")"));
  }
  CurlApi api{};
  bind(lib, "curl_global_init", api.global_init, soname);
  bind(lib, "curl_easy_init", api.easy_init, soname);
  bind(lib, "curl_easy_setopt", api.easy_setopt, soname);
  bind(lib, "curl_easy_perform", api.easy_perform, soname);
  bind(lib, "curl_easy_getinfo", api.easy_getinfo, soname);
  bind(lib, "curl_easy_cleanup", api.easy_cleanup, soname);
  bind(lib, "curl_easy_strerror", api.easy_strerror, soname);
  bind(lib, "curl_slist_append", api.slist_append, soname);
  bind(lib, "curl_slist_free_all", api.slist_free_all, soname);
  return api;  // the library stays loaded for the life of the process, like a linked one
}

const CurlApi& curl_api() {
  // libcurl.so.4 has been the soname from 7.16 through every 8.x release.
  static const CurlApi api = [] {
    CurlApi a = load_curl_api("libcurl.so.4");
    // Not thread-safe in libcurl, hence here, under the static's initialisation guard.
    const CURLcode rc = a.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) throw Error(std::string("libcurl could not be initialised: ") + a.easy_strerror(rc));
    return a;
  }();
  return api;
}

}  // namespace da3::io
