// .npz archives (src/io/npz.cpp read_npz): the input is a whole file.
#include "da3/error.hpp"
#include "fuzz_util.hpp"
#include "io/npz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = da3::fuzz::write_file("in.npz", {reinterpret_cast<const char*>(data), size});
  try {
    uint64_t sum = 0;
    for (const auto& [name, t] : da3::io::read_npz(path)) sum += name.size() + da3::fuzz::touch(t);
    volatile uint64_t keep = sum;
    (void)keep;
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  return 0;
}
