// Finding CUDA vendor libraries at run time (src/core/cuda_library.hpp): host-side, no GPU needed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/cuda_library.hpp"
#include "da3/error.hpp"
#include "test_util.hpp"

namespace da3 {
namespace {

namespace fs = std::filesystem;

using test::ScopedEnv;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(CudaLibrary, ExtraFoldersComeFirstAndMissingOnesAreDropped) {
  const fs::path d = fresh_dir("da3-cudalib-dirs");
  ScopedEnv e("DA3_CUDA_LIB_DIRS", "/nonexistent/da3:" + d.string());
  const auto dirs = cuda_library_dirs();
  ASSERT_FALSE(dirs.empty());
  EXPECT_EQ(dirs.front(), d.string());
  for (const std::string& x : dirs) EXPECT_NE(x, "/nonexistent/da3");
  fs::remove_all(d);
}

TEST(CudaLibrary, MissingLibraryNamesItselfThePurposeAndEveryFolder) {
  const fs::path d = fresh_dir("da3-cudalib-missing");
  ScopedEnv e("DA3_CUDA_LIB_DIRS", d.string());
  try {
    load_cuda_library("libda3_no_such_library.so.99", "a test");
    FAIL() << "expected an error";
  } catch (const Error& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("libda3_no_such_library.so.99"), std::string::npos) << m;
    EXPECT_NE(m.find("a test"), std::string::npos) << m;
    EXPECT_NE(m.find(d.string()), std::string::npos) << m;
    EXPECT_NE(m.find("DA3_CUDA_LIB_DIRS"), std::string::npos) << m;
  }
  fs::remove_all(d);
}

// A library only in a DA3_CUDA_LIB_DIRS folder is found there (zlib under another name stands in
// for a vendor library: the loader does not care what the file is called).
TEST(CudaLibrary, LoadsFromAnExtraFolderAndResolvesSymbols) {
  fs::path zlib;
  for (const char* p : {"/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1"})
    if (fs::exists(p)) zlib = p;
  if (zlib.empty()) GTEST_SKIP() << "no libz.so.1 on this machine to stand in for a vendor library";
  const fs::path d = fresh_dir("da3-cudalib-load");
  fs::copy_file(zlib, d / "libda3_stand_in.so.1");
  ScopedEnv e("DA3_CUDA_LIB_DIRS", d.string());
  void* lib = load_cuda_library("libda3_stand_in.so.1", "a test");
  ASSERT_NE(lib, nullptr);
  EXPECT_NE(cuda_library_symbol(lib, "libda3_stand_in.so.1", "zlibVersion"), nullptr);
  EXPECT_THROW(cuda_library_symbol(lib, "libda3_stand_in.so.1", "da3_no_such_symbol"), Error);
  fs::remove_all(d);
}

}  // namespace
}  // namespace da3
