#include "da3/version.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#ifndef DA3_VERSION
#define DA3_VERSION "0.0.0"
#endif
#ifndef DA3_BUILD_TYPE
#define DA3_BUILD_TYPE "unknown"
#endif

namespace da3 {

const char* version() { return DA3_VERSION; }

bool built_with_cuda() {
#ifdef DA3_WITH_CUDA
  return true;
#else
  return false;
#endif
}

const char* build_info() {
  static const std::string s = [] {
    const dnnl_version_t* v = dnnl_version();
    std::string r = std::string("g++ ") + __VERSION__ + ", " + DA3_BUILD_TYPE + ", oneDNN " +
                    std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                    ", CUDA " + (built_with_cuda() ? "on" : "off");
    return r;
  }();
  return s.c_str();
}

}  // namespace da3
