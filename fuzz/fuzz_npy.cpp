// .npy bytes (src/io/npz.cpp parse_npy): what every .npz member goes through.
#include <vector>

#include "da3/error.hpp"
#include "fuzz_util.hpp"
#include "io/npz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> copy(data, data + size);  // exact size: over-reads are caught
  try {
    const da3::Tensor t = da3::io::parse_npy(copy.data(), copy.size(), "fuzz.npy");
    volatile uint64_t keep = da3::fuzz::touch(t);
    (void)keep;
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  return 0;
}
