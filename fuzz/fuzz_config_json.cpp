// config.json (src/model/config_json.cpp, src/model/presets.cpp): the input is the file's text.
#include "da3/config.hpp"
#include "da3/error.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto cfg = da3::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    volatile size_t keep = cfg.model_name.size() + (cfg.nested() ? 1 : 0);
    (void)keep;
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  return 0;
}
