// safetensors header and data (src/io/safetensors.cpp): the input is a whole .safetensors file.
// Every tensor the file validates to is read in full, and its metadata walked.
#include "da3/error.hpp"
#include "da3/safetensors.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      da3::fuzz::write_file("model.safetensors", {reinterpret_cast<const char*>(data), size});
  try {
    const auto f = da3::SafetensorsFile::open(path);
    uint64_t sum = f.file_size();
    for (const auto& e : f.entries()) {
      const auto& again = f.entry(e.name);
      if (again.begin != e.begin || again.end != e.end) __builtin_trap();
      sum += da3::fuzz::touch(f.tensor(e.name));
    }
    for (const auto& [k, v] : f.metadata()) sum += k.size() + v.size();
    f.release_resident_pages();
    volatile uint64_t keep = sum;
    (void)keep;
  } catch (const da3::Error& e) {
    // A clear refusal is the expected outcome for a malformed file.
    da3::fuzz::note(e);
  }
  return 0;
}
