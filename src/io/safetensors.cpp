#include "da3/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/file_pages.hpp"
#include "io/atomic_file.hpp"

namespace da3 {

namespace {

// The format's own reference implementation refuses headers above 100 MB; so do we, before
// trying to parse one (a corrupt length field must not make us allocate gigabytes).
constexpr uint64_t kMaxHeader = 100ull * 1000 * 1000;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("safetensors file '" + path + "': " + what);
}

// The header must be a JSON object whose nesting stays shallow: a real one is 3 deep
// ({"name": {"shape": [..]}}); bracket nesting is counted outside strings, in one pass.
constexpr int kMaxHeaderDepth = 16;

void check_header_shape(const std::string& path, const char* h, uint64_t n) {
  uint64_t i = 0;
  while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) ++i;
  if (i == n || h[i] != '{') fail(path, "header is not a JSON object (it must start with '{')");
  int depth = 0;
  bool in_string = false;
  for (; i < n; ++i) {
    const char c = h[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxHeaderDepth)
        fail(path, "header JSON is nested more than " + std::to_string(kMaxHeaderDepth) +
                       " levels deep (a safetensors header has 3): corrupt or not a safetensors file");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

// Where the data section starts in the file; the mapping is page aligned, so a tensor's
// address is aligned exactly when its offset in the file is.
bool aligned_for(DType t, uint64_t file_offset) { return file_offset % dtype_size(t) == 0; }

}  // namespace

DType safetensors_dtype(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "F64") return DType::F64;
  if (s == "I64") return DType::I64;
  if (s == "I32") return DType::I32;
  if (s == "U8") return DType::U8;
  if (s == "BOOL") return DType::Bool;
  throw Error("unsupported safetensors dtype '" + s + "' (supported: F32, F16, BF16, F64, I64, I32, U8, BOOL)");
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  f.file_size_ = size;
  if (size < 8) {
    ::close(fd);
    fail(path, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length (truncated?)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail(path, std::string("cannot mmap: ") + std::strerror(errno));
  f.mapping_ = std::shared_ptr<void>(map, [size](void* p) {
    detail::unregister_droppable_mapping(p);
    ::munmap(p, size);
  });
  detail::register_droppable_mapping(map, size);  // after: if this throws, the shared_ptr unmaps
  f.mapping_size_ = size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian, as is every machine we build for
  if (header_len > kMaxHeader) fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit (corrupt file?)");
  if (8 + header_len > size)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the " + std::to_string(size) +
                   "-byte file (truncated?)");
  const size_t data_size = size - 8 - header_len;
  f.data_ = bytes + 8 + header_len;

  // Before the DOM parse: nlohmann builds a node per '[' or '{', so 99 MB of "[[[[..." (under
  // the size limit) cost 7 GB before failing. A header is an object of objects of arrays.
  check_header_shape(path, reinterpret_cast<const char*>(bytes + 8), header_len);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(path, "__metadata__ value for '" + m.key() + "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(path, where + "entry must be an object with dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;
    if (!v["dtype"].is_string()) fail(path, where + "dtype is not a string");
    try {
      e.dtype = safetensors_dtype(v["dtype"].get<std::string>());
    } catch (const Error& err) {
      fail(path, where + err.what());
    }
    if (!v["shape"].is_array()) fail(path, where + "shape is not an array");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail(path, where + "shape has a non-integer or negative entry");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > (uint64_t(1) << 48) / dim) fail(path, where + "shape is implausibly large");
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, where + "data_offsets must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) fail(path, where + "data_offsets begin > end");
    if (e.end > data_size)
      fail(path, where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") run past the " + std::to_string(data_size) + "-byte data section (truncated file?)");
    const uint64_t want = numel * dtype_size(e.dtype);
    if (want != e.end - e.begin)
      fail(path, where + "shape " + shape_str(e.shape) + " of " + safetensors_dtype_name(e.dtype) + " needs " +
                     std::to_string(want) + " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    // Tensors are handed out as views on the mapping and read as their dtype in place (the
    // kernels load floats directly), so each must start at a multiple of its element size.
    // The official writer pads the header to 8 bytes so every tensor is; a file that is not
    // was written by something else.
    if (!aligned_for(e.dtype, 8 + header_len + e.begin))
      fail(path, where + safetensors_dtype_name(e.dtype) + " data starts at byte " + std::to_string(8 + header_len + e.begin) +
                     " of the file, not a multiple of " + std::to_string(dtype_size(e.dtype)) +
                     " bytes: misaligned tensors cannot be read in place (the official safetensors writer pads "
                     "the header so the data is 8-byte aligned); rewrite the file with it");
    f.index_[name] = f.entries_.size();
    f.entries_.push_back(std::move(e));
  }

  // Ranges must not overlap (two tensors sharing bytes would alias silently). Empty tensors
  // occupy no bytes and are left out; each range is compared with the one reaching furthest
  // among those before it, not only its sorted neighbour (which could be contained in it).
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : f.entries_)
    if (e.begin != e.end) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  const SafetensorsEntry* furthest = nullptr;
  for (const SafetensorsEntry* e : sorted) {
    if (furthest && e->begin < furthest->end)
      fail(path, "tensors '" + furthest->name + "' and '" + e->name + "' have overlapping data ranges");
    if (!furthest || e->end > furthest->end) furthest = e;
  }
  return f;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, "no tensor named '" + name + "'");
  return entries_[it->second];
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  return Tensor::from_blob(const_cast<uint8_t*>(data_ + e.begin), e.shape, e.dtype, mapping_);
}

size_t SafetensorsFile::file_size() const { return file_size_; }

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  std::vector<Tensor> contiguous;
  for (const auto& [name, t] : tensors) {
    DA3_CHECK(t.defined(), "save_safetensors: tensor '" + name + "' is undefined");
    DA3_CHECK(t.device() == Device::CPU, "save_safetensors: tensor '" + name + "' is not on the CPU");
    DA3_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is a reserved name");
    DA3_CHECK(!header.contains(name), "save_safetensors: tensor name '" + name + "' given twice");
    contiguous.push_back(t.contiguous());
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  AtomicFile out(path);
  const uint64_t len = h.size();
  out.write(&len, 8);
  out.write(h.data(), h.size());
  for (const Tensor& t : contiguous) out.write(t.data(), t.nbytes());
  out.commit();
}

}  // namespace da3

namespace da3 {

void SafetensorsFile::release_resident_pages() const {
  // The mapping is PROT_READ and MAP_PRIVATE, so no page was ever copied-on-write: dropping them
  // loses nothing. Advice only; a failure changes memory use, never results.
  if (mapping_) ::madvise(mapping_.get(), mapping_size_, MADV_DONTNEED);
}

}  // namespace da3
