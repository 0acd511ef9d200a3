// Image headers (src/io/image_header.cpp): the first bytes of an image file. Never throws; sizes
// are never negative.
#include "io/image_header.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so ASan catches a read one past the end.
  std::vector<uint8_t> copy(data, data + size);
  const auto h = da3::io::read_image_header(copy.data(), copy.size());
  if (h.width < 0 || h.height < 0) __builtin_trap();
  if (h.format == da3::io::ImageFormat::Unknown && (h.width != 0 || h.height != 0)) __builtin_trap();
  volatile const char* name = da3::io::image_format_name(h.format);
  (void)name;
  return 0;
}
