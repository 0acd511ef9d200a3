// Issue 14 (hardening), defects 3 and 10: output files. The atomic rename replaced whatever was
// at the output path (a device, a FIFO, a symlink) with a regular file, the mode ignored the
// umask and widened a 0600 file, and a signal during an export left the temporary behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "test_util.hpp"

using namespace da3;
namespace fs = std::filesystem;

namespace {

std::string write_error(const std::string& path) {
  try {
    AtomicFile f(path);
    f.write("x", 1);
    f.commit();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

int entries(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(HardeningFiles, NonRegularOutputPathsAreRefusedAndLeftAsTheyWere) {
  test::TempDir t;
  const std::string fifo = t.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::string msg = write_error(fifo);
  EXPECT_NE(msg.find("is a FIFO"), std::string::npos) << msg;
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";

  std::ofstream(t.file("target")) << "keep";
  fs::create_symlink(t.file("target"), t.file("link"));
  msg = write_error(t.file("link"));
  EXPECT_NE(msg.find("is a symbolic link"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_symlink(t.file("link")));

  fs::create_directory(t.file("dir"));
  msg = write_error(t.file("dir"));
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  EXPECT_EQ(entries(t.path()), 4) << "a temporary file was left behind";  // fifo, target, link, dir
}

TEST(HardeningFiles, CharacterDeviceOutputIsRefusedBeforeAnythingIsWritten) {
  // /dev/null, not /dev/full: without the fix, as root, the rename would replace the device.
  // The check happens in the constructor, before a temporary is created next to it.
  struct stat st {};
  if (::lstat("/dev/null", &st) != 0 || !S_ISCHR(st.st_mode)) GTEST_SKIP() << "no /dev/null device";
  try {
    AtomicFile f("/dev/null");
    FAIL() << "no error for /dev/null";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a character device"), std::string::npos) << e.what();
  }
  ASSERT_EQ(::lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(HardeningFiles, NewFilesHonourTheUmaskAndReplacedFilesKeepTheirMode) {
  test::TempDir t;
  const mode_t old = ::umask(077);
  const std::string a = t.file("new");
  write_error(a);
  ::umask(022);
  const std::string b = t.file("new022");
  write_error(b);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "umask 077";
  ASSERT_EQ(::stat(b.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u) << "umask 022";

  const std::string c = t.file("private");
  std::ofstream(c) << "old";
  ASSERT_EQ(::chmod(c.c_str(), 0600), 0);
  EXPECT_EQ(write_error(c), "(no error)");
  ASSERT_EQ(::stat(c.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a replaced 0600 file was widened";
}

// SIGINT / SIGTERM while a file is being written: the temporary is removed and the process
// still dies of the signal (the exit status says so).
TEST(HardeningFiles, SignalDuringAWriteRemovesTheTemporaryAndReRaises) {
  for (int sig : {SIGINT, SIGTERM}) {
    test::TempDir t;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::signal(sig, SIG_DFL);
      install_temp_file_cleanup_on_signals();
      AtomicFile f(t.file("out.bin"));
      f.write("partial", 7);
      ::raise(sig);
      ::_exit(0);  // not reached: the signal ends the process
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
    EXPECT_EQ(entries(t.path()), 0) << "a temporary file was left behind after signal " << sig;
  }
}

// Defect 10: a bad output location was found only after the whole inference ran; these are
// the up-front checks the commands now make.
TEST(HardeningFiles, OutputLocationsAreCheckedUpFront) {
  test::TempDir t;
  std::ofstream(t.file("file")) << "x";
  auto error_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string msg = error_of([&] { check_output_dir(t.file("file") + "/sub/dir"); });
  EXPECT_NE(msg.find("is a regular file, not a directory"), std::string::npos) << msg;
  msg = error_of([&] { check_output_path(t.file("missing") + "/out.safetensors"); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = error_of([&] { check_output_path(t.file("file") + "/out.safetensors"); });
  EXPECT_NE(msg.find("not a directory"), std::string::npos) << msg;
  EXPECT_EQ(error_of([&] { check_output_dir(t.file("new/deeper")); }), "(no error)");
  EXPECT_EQ(error_of([&] { check_output_path(t.file("new.safetensors")); }), "(no error)");
  EXPECT_FALSE(fs::exists(t.file("new"))) << "a check created something";
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(t.file("ro"));
    ASSERT_EQ(::chmod(t.file("ro").c_str(), 0555), 0);
    msg = error_of([&] { check_output_dir(t.file("ro") + "/out"); });
    EXPECT_NE(msg.find("is not writable"), std::string::npos) << msg;
  }
}

// The exports that write a whole directory (depth_png, depth16, colmap) build it under a
// temporary name: a signal removes it with everything in it.
TEST(HardeningFiles, SignalWhileFillingATemporaryDirectoryRemovesIt) {
  test::TempDir t;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGTERM, SIG_DFL);
    install_temp_file_cleanup_on_signals();
    const fs::path d = t.path() / ".colmap.tmp-abcdef";
    fs::create_directories(d / "sparse" / "0");
    fs::create_directories(d / "text");
    for (int i = 0; i < 300; ++i) std::ofstream(d / ("img" + std::to_string(i) + ".png")) << i;
    std::ofstream(d / "sparse" / "0" / "cameras.bin") << "x";
    TempDirRegistration reg(d.string());
    AtomicFile f((d / "text" / "images.txt").string());
    f.write("partial", 7);
    ::raise(SIGTERM);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
  EXPECT_EQ(entries(t.path()), 0) << "the temporary directory was left behind";
}
