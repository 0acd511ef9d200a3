// Dropping the resident pages of read-only checkpoint mappings (core/file_pages.hpp): only
// registered mappings are touched, and their contents come back from the file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/file_pages.hpp"
#include "da3/tensor.hpp"

using namespace da3;

namespace {

struct MappedFile {
  std::string path;
  void* base = MAP_FAILED;
  size_t bytes = 0;
  explicit MappedFile(const std::vector<float>& data) {
    char tmpl[] = "/tmp/da3_file_pages_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) return;
    path = tmpl;
    bytes = data.size() * sizeof(float);
    if (::write(fd, data.data(), bytes) == static_cast<ssize_t>(bytes))
      base = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
  }
  ~MappedFile() {
    if (base != MAP_FAILED) ::munmap(base, bytes);
    if (!path.empty()) std::remove(path.c_str());
  }
};

// Resident file-backed pages of this process, in kB (/proc/self/status "RssFile:").
long rss_file_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("RssFile:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

struct Registration {  // unregisters even when an assertion ends the test early
  const void* base;
  Registration(const void* b, size_t bytes) : base(b) { detail::register_droppable_mapping(b, bytes); }
  ~Registration() { detail::unregister_droppable_mapping(base); }
};

}  // namespace

TEST(FilePages, DropsOnlyRegisteredMappingsAndKeepsTheirContents) {
  std::vector<float> data(300000);  // ~1.2 MB: many pages
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.5f;
  MappedFile f(data);
  ASSERT_NE(f.base, MAP_FAILED) << "cannot make a temporary mapped file";
  const auto* mapped = static_cast<const float*>(f.base);

  double sum = 0;
  for (size_t i = 0; i < data.size(); ++i) sum += mapped[i];  // fault every page in
  EXPECT_FALSE(detail::drop_file_pages(mapped + 1000, 4000)) << "not registered yet";

  {
    Registration reg(f.base, f.bytes);
    EXPECT_TRUE(detail::drop_file_pages(mapped + 1000, 40000));  // rounded out to whole pages
    for (size_t i = 0; i < data.size(); ++i) sum += 0 * mapped[i];  // all resident again
    const long before = rss_file_kb();
    EXPECT_TRUE(detail::drop_file_pages(mapped, f.bytes));
    const long after = rss_file_kb();
    if (before >= 0 && after >= 0)  // the ~1.2 MB of this mapping left the resident set
      EXPECT_GE(before - after, 800) << "RssFile " << before << " -> " << after << " kB";
    EXPECT_FALSE(detail::drop_file_pages(mapped + 1000, f.bytes)) << "runs past the mapping's end";
    double again = 0;
    for (size_t i = 0; i < data.size(); ++i) again += mapped[i];  // read back from the file
    EXPECT_EQ(again, sum);
    EXPECT_EQ(mapped[123457], data[123457]);
  }
  EXPECT_FALSE(detail::drop_file_pages(mapped, 4096)) << "unregistered";

  // Anonymous memory is never advised: MADV_DONTNEED would zero it.
  Tensor owned = Tensor::full({1 << 20}, 3.f);
  EXPECT_FALSE(detail::drop_file_pages(owned.data(), owned.nbytes()));
  EXPECT_EQ(owned.data_as<float>()[12345], 3.f);
}
