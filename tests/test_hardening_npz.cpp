// Issue 14 (hardening), defect 1: the .npz / .npy reader (`--poses`) on corrupt archives. Every
// offset and length in the file is checked before it is used; a corrupt file is one da3::Error.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "da3/error.hpp"
#include "io/image.hpp"
#include "io/npz.hpp"
#include "test_util.hpp"

namespace {

std::vector<uint8_t> valid_npz(const da3::test::TempDir& t) {
  da3::io::NpzWriter w(t.file("src.npz"));
  w.add("extrinsics", da3::Tensor::full({2, 4, 4}, 1.f));
  w.commit();
  return da3::io::read_file_bytes(t.file("src.npz"));
}

void write(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

void put16(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  b[at] = uint8_t(v);
  b[at + 1] = uint8_t(v >> 8);
}
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  put16(b, at, v & 0xFFFF);
  put16(b, at + 2, v >> 16);
}

// Offset of the (only) central directory record: the end record's field at +16.
size_t central_record(const std::vector<uint8_t>& b) {
  const size_t eocd = b.size() - 22;
  return size_t(b[eocd + 16]) | size_t(b[eocd + 17]) << 8 | size_t(b[eocd + 18]) << 16 | size_t(b[eocd + 19]) << 24;
}

std::string read_error(const std::string& path) {
  try {
    da3::io::read_npz(path);
  } catch (const da3::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(HardeningNpz, MemberNameLongerThanTheFileIsRefusedWithoutReadingPastIt) {
  da3::test::TempDir t;
  auto b = valid_npz(t);
  put16(b, central_record(b) + 28, 0xFFFF);  // name length: 64 KB, far past the end of the file
  write(t.file("a.npz"), b);
  const std::string msg = read_error(t.file("a.npz"));
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
  // Before the fix the message carried the 64 KB "name": whatever heap followed the buffer.
  EXPECT_LT(msg.size(), 400u) << msg.size() << " bytes of message";
}

TEST(HardeningNpz, LocalHeaderOffsetNear4GiBDoesNotWrap) {
  da3::test::TempDir t;
  auto b = valid_npz(t);
  put32(b, central_record(b) + 42, 0xFFFFFFF0u);  // + 30 wrapped to 14 in 32-bit arithmetic: SIGSEGV
  write(t.file("a.npz"), b);
  const std::string msg = read_error(t.file("a.npz"));
  EXPECT_NE(msg.find("no local header at offset 4294967280"), std::string::npos) << msg;
}

TEST(HardeningNpz, NpyShapeLargerThanItsDataIsRefusedBeforeAllocating) {
  // A 100-byte .npy claiming 10^15 floats must not allocate (or overflow computing) 4 PB.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }";
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy += char(dict.size() & 0xFF);
  npy += char(dict.size() >> 8);
  npy += dict + std::string(16, '\0');
  const auto* d = reinterpret_cast<const uint8_t*>(npy.data());
  try {
    da3::io::parse_npy(d, npy.size(), "x");
    FAIL() << "no error";
  } catch (const da3::Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs more bytes"), std::string::npos) << e.what();
  }
  // Overflowing products: 2^33 x 2^33 x 4 bytes wraps to 0 in 64 bits.
  const std::string dict2 = "{'descr': '<f4', 'fortran_order': False, 'shape': (8589934592, 8589934592), }";
  std::string npy2 = std::string("\x93NUMPY\x01\x00", 8);
  npy2 += char(dict2.size() & 0xFF);
  npy2 += char(dict2.size() >> 8);
  npy2 += dict2;
  EXPECT_THROW(da3::io::parse_npy(reinterpret_cast<const uint8_t*>(npy2.data()), npy2.size(), "x"), da3::Error);
}

TEST(HardeningNpz, EmptyNpyWithHugeOtherDimsIsRefused) {
  // Found by fuzz_npy in CI: a 0 in the shape made the byte count 0, so the other dimensions
  // were never bounded and the tensor's strides overflowed int64 (UBSan: signed overflow in
  // contiguous_strides). Each dimension alone fits the file; their product does not.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 99999, 99999, 99999, 99999, 99999), }";
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy += char(dict.size() & 0xFF);
  npy += char(dict.size() >> 8);
  npy += dict + std::string(100000, '\0');
  try {
    da3::io::parse_npy(reinterpret_cast<const uint8_t*>(npy.data()), npy.size(), "x");
    FAIL() << "no error";
  } catch (const da3::Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs more bytes"), std::string::npos) << e.what();
  }
  // A genuinely empty array (0, 3) still reads.
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }";
  std::string npy2 = std::string("\x93NUMPY\x01\x00", 8);
  npy2 += char(ok.size() & 0xFF);
  npy2 += char(ok.size() >> 8);
  npy2 += ok + std::string(16, ' ');
  const da3::Tensor t = da3::io::parse_npy(reinterpret_cast<const uint8_t*>(npy2.data()), npy2.size(), "x");
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.shape().size(), 2u);
}

TEST(HardeningNpz, TensorWhoseShapeOverflowsIsAnError) {
  // The last line of defence under every reader: Tensor::empty refuses a shape whose element
  // count does not fit int64 instead of overflowing while it computes strides.
  EXPECT_THROW(da3::Tensor::empty({0, int64_t(1) << 40, int64_t(1) << 40}, da3::DType::F32), da3::Error);
  EXPECT_THROW(da3::Tensor::empty({int64_t(1) << 62, 4}, da3::DType::F32), da3::Error);
}

TEST(HardeningNpz, MalformedNpyHeaderFieldsAreDa3Errors) {
  // A key with nothing after its ':' made std::string::substr throw std::out_of_range (an
  // "internal error" in the CLI) instead of a da3::Error naming the file.
  for (const std::string dict : {"{'descr':", "{'descr': '<f4', 'fortran_order': False, 'shape':"}) {
    std::string npy = std::string("\x93NUMPY\x01\x00", 8);
    npy += char(dict.size() & 0xFF);
    npy += char(dict.size() >> 8);
    npy += dict + std::string(8, '\0');
    EXPECT_THROW(da3::io::parse_npy(reinterpret_cast<const uint8_t*>(npy.data()), npy.size(), "x"), da3::Error) << dict;
  }
}
