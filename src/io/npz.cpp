#include "io/npz.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "io/image.hpp"

namespace da3::io {

uint32_t crc32(const void* data, size_t bytes, uint32_t crc) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < bytes; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

namespace {

const char* npy_descr(DType t) {
  switch (t) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::U8: return "|u1";
    case DType::Bool: return "|b1";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    default: throw Error(std::string("npz: cannot store dtype ") + dtype_name(t));
  }
}

DType dtype_from_descr(const std::string& d, const std::string& what) {
  if (d == "<f4") return DType::F32;
  if (d == "<f8") return DType::F64;
  if (d == "|u1" || d == "<u1") return DType::U8;
  if (d == "|b1") return DType::Bool;
  if (d == "<i4") return DType::I32;
  if (d == "<i8") return DType::I64;
  throw Error(what + ": unsupported dtype '" + d + "' (float32/64, uint8, bool, int32/64, little-endian)");
}

void put16(std::string& s, uint32_t v) {
  s += char(v & 0xFF);
  s += char((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
uint32_t get16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t get32(const uint8_t* p) { return get16(p) | get16(p + 2) << 16; }

}  // namespace

std::string npy_header(const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.dim() == 1 ? "," : i + 1 < t.shape().size() ? ", " : "");
  shape += ")";
  std::string dict = "{'descr': '" + std::string(npy_descr(t.dtype())) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // numpy pads the header with spaces and a newline so the data starts 64-byte aligned.
  const size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string h = "\x93NUMPY";
  h += char(1);
  h += char(0);
  put16(h, static_cast<uint32_t>(dict.size()));
  return h + dict;
}

struct NpzWriter::Impl {
  AtomicFile file;
  std::string path;
  std::string central;  // central directory records, written at commit
  uint64_t offset = 0;
  uint32_t entries = 0;
  explicit Impl(const std::string& p) : file(p), path(p) {}
};

NpzWriter::NpzWriter(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
NpzWriter::~NpzWriter() = default;

void NpzWriter::add(const std::string& name, const Tensor& t0) {
  DA3_CHECK(t0.device() == Device::CPU, "npz: '" + name + "' is not on the CPU");
  const Tensor t = t0.contiguous();
  add_member(name, npy_header(t), t.data(), t.nbytes());
}

namespace {

// UTF-8 to code points; a byte that does not start a valid sequence becomes U+FFFD (file
// names are bytes on Linux and need not be UTF-8).
std::vector<uint32_t> utf8_to_utf32(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    bool ok = len > 0 && i + size_t(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<uint8_t>(s[i + size_t(k)]);
      ok = (c >> 6) == 2;
      cp = cp << 6 | (c & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    out.push_back(ok ? cp : 0xFFFD);
    i += ok ? size_t(len) : 1;
  }
  return out;
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | cp >> 6);
    s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | cp >> 12);
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | cp >> 18);
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace

void NpzWriter::add_strings(const std::string& name, const std::vector<std::string>& values) {
  std::vector<std::vector<uint32_t>> cps;
  size_t width = 1;  // numpy's narrowest unicode dtype is <U1
  for (const std::string& v : values) {
    cps.push_back(utf8_to_utf32(v));
    width = std::max(width, cps.back().size());
  }
  std::vector<uint32_t> data(values.size() * width, 0);  // numpy pads with NULs
  for (size_t i = 0; i < cps.size(); ++i) std::copy(cps[i].begin(), cps[i].end(), data.begin() + i * width);
  std::string dict = "{'descr': '<U" + std::to_string(width) + "', 'fortran_order': False, 'shape': (" +
                     std::to_string(values.size()) + ",), }";
  const size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += char(1);
  header += char(0);
  put16(header, static_cast<uint32_t>(dict.size()));
  add_member(name, header + dict, data.data(), data.size() * sizeof(uint32_t));
}

std::vector<std::string> npz_strings(const Tensor& t, const std::string& what) {
  if (t.dtype() != DType::I32 || t.dim() != 2)
    throw Error(what + " is not a 1-D string array (numpy dtype <U), got " + shape_str(t.shape()) + " " +
                dtype_name(t.dtype()));
  const Tensor c = t.contiguous();
  const auto* p = c.data_as<int32_t>();
  std::vector<std::string> out;
  for (int64_t i = 0; i < c.size(0); ++i) {
    std::string s;
    for (int64_t k = 0; k < c.size(1); ++k) {
      const auto cp = static_cast<uint32_t>(p[i * c.size(1) + k]);
      if (cp == 0) break;
      append_utf8(s, cp > 0x10FFFF ? 0xFFFD : cp);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void NpzWriter::add_member(const std::string& name, const std::string& header, const void* data, size_t nbytes) {
  const std::string member = name + ".npy";
  const uint64_t size = header.size() + nbytes;
  // Without ZIP64 records every size and offset must fit in 32 bits.
  if (size >= 0xFFFFFFFFull || impl_->offset + size + 30 + member.size() >= 0xFFFFFFFFull)
    throw Error("npz '" + impl_->path + "': '" + name + "' makes the archive larger than 4 GiB, which needs ZIP64 (not supported)");
  uint32_t crc = crc32(header.data(), header.size());
  crc = crc32(data, nbytes, crc);
  // Fixed 1980-01-01 00:00 timestamps keep the output byte-identical run to run.
  const uint32_t dos_time = 0, dos_date = (0 << 9) | (1 << 5) | 1;
  std::string local;
  put32(local, 0x04034b50);
  put16(local, 20);  // version needed: 2.0 (stored)
  put16(local, 0);   // flags
  put16(local, 0);   // method: stored
  put16(local, dos_time);
  put16(local, dos_date);
  put32(local, crc);
  put32(local, static_cast<uint32_t>(size));
  put32(local, static_cast<uint32_t>(size));
  put16(local, static_cast<uint32_t>(member.size()));
  put16(local, 0);
  local += member;

  std::string& c = impl_->central;
  put32(c, 0x02014b50);
  put16(c, (3 << 8) | 20);  // made by: Unix, 2.0
  put16(c, 20);
  put16(c, 0);
  put16(c, 0);
  put16(c, dos_time);
  put16(c, dos_date);
  put32(c, crc);
  put32(c, static_cast<uint32_t>(size));
  put32(c, static_cast<uint32_t>(size));
  put16(c, static_cast<uint32_t>(member.size()));
  put16(c, 0);  // extra
  put16(c, 0);  // comment
  put16(c, 0);  // disk
  put16(c, 0);  // internal attributes
  put32(c, 0100644u << 16);  // external: regular file, rw-r--r--
  put32(c, static_cast<uint32_t>(impl_->offset));
  c += member;

  impl_->file.write(local.data(), local.size());
  impl_->file.write(header.data(), header.size());
  impl_->file.write(static_cast<const char*>(data), nbytes);
  impl_->offset += local.size() + size;
  impl_->entries += 1;
}

void NpzWriter::commit() {
  std::string end;
  put32(end, 0x06054b50);
  put16(end, 0);
  put16(end, 0);
  put16(end, impl_->entries);
  put16(end, impl_->entries);
  put32(end, static_cast<uint32_t>(impl_->central.size()));
  put32(end, static_cast<uint32_t>(impl_->offset));
  put16(end, 0);
  impl_->file.write(impl_->central.data(), impl_->central.size());
  impl_->file.write(end.data(), end.size());
  impl_->file.commit();
}

Tensor parse_npy(const uint8_t* d, size_t n, const std::string& what) {
  // Every offset and length below comes from the file: each is checked against `n` (in 64-bit
  // arithmetic) before the bytes it points at are read, and the array's size before anything
  // is allocated for it.
  if (n < 10 || std::memcmp(d, "\x93NUMPY", 6) != 0) throw Error(what + " is not a .npy array");
  const int major = d[6];
  uint64_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = get16(d + 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (n < 12) throw Error(what + ": truncated .npy header");
    hlen = get32(d + 8);
    start = 12;
  } else {
    throw Error(what + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > n - start) throw Error(what + ": truncated .npy header");
  const std::string h(reinterpret_cast<const char*>(d + start), hlen);
  const auto bad = [&](const std::string& why) { return Error(what + ": malformed .npy header (" + why + ")"); };
  auto value_of = [&](const std::string& key) {
    const size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) throw Error(what + ": .npy header lacks '" + key + "'");
    const size_t colon = h.find(':', k);
    if (colon == std::string::npos) throw bad("no ':' after '" + key + "'");
    size_t v = colon + 1;
    while (v < h.size() && h[v] == ' ') ++v;
    if (v >= h.size()) throw bad("no value for '" + key + "'");
    return v;
  };
  size_t v = value_of("descr");
  const size_t q = h.find('\'', v + 1);
  if (h[v] != '\'' || q == std::string::npos) throw bad("'descr' is not a quoted string");
  const std::string descr = h.substr(v + 1, q - v - 1);
  // A numpy unicode array ('<U<width>', UTF-32 code points) is read as int32 with one more,
  // last dimension of `width` code points: npz_strings() turns it back into strings.
  int64_t unicode_width = -1;
  if (descr.size() > 2 && descr.size() <= 8 && descr.compare(0, 2, "<U") == 0 &&
      descr.find_first_not_of("0123456789", 2) == std::string::npos)
    unicode_width = std::stoll(descr.substr(2));
  const DType dtype = unicode_width >= 0 ? DType::I32 : dtype_from_descr(descr, what);
  v = value_of("fortran_order");
  const bool fortran = h.compare(v, 4, "True") == 0;
  v = value_of("shape");
  const size_t close = h.find(')', v);
  if (h[v] != '(' || close == std::string::npos) throw bad("'shape' is not a tuple");
  Shape shape;
  const std::string dims = h.substr(v + 1, close - v - 1);
  // The byte count, with overflow checked, is known before anything is allocated. `span`
  // bounds the product of the non-zero dimensions too: a 0 makes the byte count 0, and the
  // other dimensions must still not overflow the tensor's strides (found by fuzz_npy).
  uint64_t bytes = dtype_size(dtype), span = dtype_size(dtype);
  for (size_t p = 0; p < dims.size();) {
    while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
    if (p >= dims.size()) break;
    size_t e = p;
    uint64_t dim = 0;
    while (e < dims.size() && dims[e] >= '0' && dims[e] <= '9') {
      dim = dim * 10 + uint64_t(dims[e] - '0');
      if (dim > n) throw Error(what + ": .npy shape (" + dims + ") needs more bytes than the " + std::to_string(n) + "-byte array holds");
      ++e;
    }
    if (e == p) throw bad("bad shape (" + dims + ")");
    if ((dim != 0 && bytes > n / dim) || (dim != 0 && span > n / dim))
      throw Error(what + ": .npy shape (" + dims + ") needs more bytes than the " + std::to_string(n) + "-byte array holds");
    bytes *= dim;
    if (dim != 0) span *= dim;
    shape.push_back(static_cast<int64_t>(dim));
    p = e;
  }
  if (unicode_width >= 0) {
    if (fortran && shape.size() > 1) throw Error(what + ": Fortran-ordered string arrays are not supported");
    if (unicode_width != 0 && bytes > n / uint64_t(unicode_width))
      throw Error(what + ": .npy string array needs more bytes than the " + std::to_string(n) + "-byte array holds");
    bytes *= uint64_t(unicode_width);
    shape.push_back(unicode_width);
  }
  const uint64_t body = start + hlen;
  if (n - body < bytes)
    throw Error(what + ": .npy data is " + std::to_string(n - body) + " bytes, " + shape_str(shape) + " " +
                dtype_name(dtype) + " needs " + std::to_string(bytes));
  // Fortran order is C order of the reversed shape; read it so and transpose into C order.
  const Shape stored = fortran ? Shape(shape.rbegin(), shape.rend()) : shape;
  Tensor t = Tensor::empty(stored, dtype);
  std::memcpy(t.data(), d + body, t.nbytes());
  if (!fortran || t.dim() < 2) return t;
  std::vector<int64_t> reverse;
  for (int64_t i = t.dim() - 1; i >= 0; --i) reverse.push_back(i);
  return t.permute(reverse).clone();
}

Tensor read_npy(const std::string& path) {
  const auto bytes = read_file_bytes(path, "array file");
  return parse_npy(bytes.data(), bytes.size(), "'" + path + "'");
}

std::map<std::string, Tensor> read_npz(const std::string& path) {
  const auto bytes = read_file_bytes(path, "npz file");
  const uint8_t* d = bytes.data();
  const uint64_t n = bytes.size();
  const std::string who = "npz '" + path + "'";
  // Offsets and lengths are read from the file: every one is checked in 64-bit arithmetic
  // (a 32-bit offset near 2^32 plus a header size must not wrap) before the bytes it
  // designates are read.
  const auto corrupt = [&](const std::string& what) {
    return Error(who + " is corrupt: " + what + "; write it again with numpy.savez");
  };
  // The end-of-central-directory record sits within the last 22 + 65535 bytes.
  uint64_t eocd = UINT64_MAX;
  for (uint64_t i = n >= 22 ? n - 22 : 0; n >= 22; --i) {
    if (get32(d + i) == 0x06054b50) { eocd = i; break; }
    if (i == 0 || n - i > 22 + 65535) break;
  }
  if (eocd == UINT64_MAX) throw Error(who + " is not a zip archive (no end-of-central-directory record)");
  const uint32_t count = get16(d + eocd + 10);
  uint64_t p = get32(d + eocd + 16);
  std::map<std::string, Tensor> out;
  for (uint32_t k = 0; k < count; ++k) {
    if (p > n || n - p < 46 || get32(d + p) != 0x02014b50)
      throw corrupt("central directory record " + std::to_string(k) + " lies outside the file");
    const uint32_t method = get16(d + p + 10);
    const uint32_t csize = get32(d + p + 20), usize = get32(d + p + 24);
    const uint64_t name_len = get16(d + p + 28), extra_len = get16(d + p + 30), comment_len = get16(d + p + 32);
    const uint64_t local = get32(d + p + 42);
    if (n - p - 46 < name_len)
      throw corrupt("the name of member " + std::to_string(k) + " runs past the end of the file");
    std::string name(reinterpret_cast<const char*>(d + p + 46), name_len);
    p += 46 + name_len + extra_len + comment_len;
    if (method != 0)
      throw Error(who + ": member '" + name + "' is compressed (np.savez_compressed); da3 reads only np.savez "
                  "(uncompressed) archives");
    if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || local == 0xFFFFFFFFu)
      throw Error(who + ": ZIP64 archives are not supported");
    if (local > n || n - local < 30 || get32(d + local) != 0x04034b50)
      throw corrupt("member '" + name + "' has no local header at offset " + std::to_string(local));
    const uint64_t data = local + 30 + get16(d + local + 26) + get16(d + local + 28);
    if (data > n || n - data < usize) throw Error(who + ": member '" + name + "' is truncated");
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    out[name] = parse_npy(d + data, usize, who + " member '" + name + "'");
  }
  return out;
}

}  // namespace da3::io
