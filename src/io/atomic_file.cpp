#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "da3/error.hpp"

namespace da3 {

namespace {

// In-flight temporary files, for the signal handler: a fixed table (no allocation, no lock in
// the handler, which may only call async-signal-safe functions such as unlink). A slot is
// claimed (1), filled, then published (2); the handler unlinks published paths only. With more
// than kSlots files in flight at once, the extra ones are simply not cleaned up on a signal.
constexpr size_t kSlots = 64;
constexpr size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};
  bool dir = false;  // a temporary directory: removed with its contents
  char path[kPathMax];
};
std::array<Slot, kSlots> g_slots;

int register_temp(const std::string& path, bool dir = false) {
  if (path.size() >= kPathMax) return -1;
  for (size_t i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].state.compare_exchange_strong(expected, 1)) {
      g_slots[i].dir = dir;
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].state.store(2);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void unregister_temp(int slot) {
  if (slot >= 0) g_slots[static_cast<size_t>(slot)].state.store(0);
}

// Removes `name` under `dirfd`, a file or a directory tree (a few levels deep), with system
// calls only (openat, getdents64, unlinkat): opendir/readdir may allocate, which a signal
// handler must not.
struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

bool dot_or_dotdot(const char* n) { return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')); }

void remove_tree_at(int dirfd, const char* name, int depth) {
  if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT || depth > 8) return;
  const int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buf[2048];
  // Entries are removed while listing: list again from the start until a pass finds none.
  for (int pass = 0; pass < 16; ++pass) {
    bool removed = false;
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        const auto* d = reinterpret_cast<const Dirent64*>(buf + off);
        off += d->reclen;
        if (dot_or_dotdot(d->name)) continue;
        remove_tree_at(fd, d->name, depth + 1);
        removed = true;
      }
    }
    if (!removed) break;
  }
  ::close(fd);
  ::unlinkat(dirfd, name, AT_REMOVEDIR);
}

extern "C" void remove_temps_and_reraise(int sig) {
  const int saved = errno;
  for (auto& s : g_slots)
    if (s.state.load() == 2) {
      if (s.dir)
        remove_tree_at(AT_FDCWD, s.path, 0);
      else
        ::unlink(s.path);
    }
  errno = saved;
  // SA_RESETHAND restored the default action: the process ends as the signal meant it to
  // (the exit status says "killed by SIGINT", which shells and make rely on).
  ::raise(sig);
}

std::string describe_type(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISREG(m)) return "a regular file";
  return "not a regular file";
}

// Creates a fresh file next to `path` with mode 0666 less the umask (as open() does for any
// new file; mkstemp's 0600 ignored the umask and the later fchmod(0644) widened it).
int create_temp(const std::string& path, std::string& tmp) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(::getpid()) << 32)};
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix = ".tmp-";
    for (int i = 0; i < 6; ++i) suffix += kChars[rng() % (sizeof kChars - 1)];
    tmp = path + suffix;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

void check_output_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // absent: created on commit
  if (S_ISLNK(st.st_mode))
    throw Error("output '" + path + "' is a symbolic link; da3 replaces an output file by renaming a new one over "
                "it, which would replace the link rather than write to its target. Remove the link or write to "
                "the target's path");
  if (!S_ISREG(st.st_mode))
    throw Error("output '" + path + "' exists and is " + describe_type(st.st_mode) +
                "; da3 writes regular files only. Choose another output path");
}

void check_output_dir(const std::string& dir, const std::string& what) {
  const std::string who = what + " '" + dir + "'";
  std::string p = dir.empty() ? "." : dir;
  struct stat st {};
  // The nearest existing ancestor decides: everything below it is created.
  while (::stat(p.c_str(), &st) != 0) {
    if ((errno != ENOENT && errno != ENOTDIR) || p == "." || p == "/")
      throw Error("cannot use " + who + ": '" + p + "': " + std::strerror(errno));
    const size_t end = p.find_last_not_of('/');
    const size_t slash = end == std::string::npos ? std::string::npos : p.find_last_of('/', end);
    p = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
  }
  if (!S_ISDIR(st.st_mode))
    throw Error("cannot use " + who + ": '" + p + "' exists and is " + describe_type(st.st_mode) +
                ", not a directory. Choose another output path");
  if (::access(p.c_str(), W_OK | X_OK) != 0)
    throw Error("cannot use " + who + ": directory '" + p + "' is not writable (" + std::strerror(errno) + ")");
}

void check_output_path(const std::string& path, const std::string& what) {
  check_output_file(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(what + " '" + path + "' is a directory; give a file name");
  const size_t slash = path.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::stat(parent.c_str(), &st) != 0)
    throw Error("cannot write " + what + " '" + path + "': directory '" + parent + "' " +
                (errno == ENOENT ? "does not exist" : std::string("cannot be used: ") + std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    throw Error("cannot write " + what + " '" + path + "': '" + parent + "' is " + describe_type(st.st_mode) +
                ", not a directory");
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    throw Error("cannot write " + what + " '" + path + "': directory '" + parent + "' is not writable (" +
                std::strerror(errno) + ")");
}

void install_temp_file_cleanup_on_signals() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;
    // A signal the parent set to be ignored (nohup) stays ignored; a handler someone else
    // installed is theirs to keep.
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
    struct sigaction sa {};
    sa.sa_handler = remove_temps_and_reraise;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
}

TempDirRegistration::TempDirRegistration(const std::string& dir) : slot_(register_temp(dir, true)) {}
TempDirRegistration::~TempDirRegistration() { release(); }
void TempDirRegistration::release() {
  unregister_temp(slot_);
  slot_ = -1;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // Checked before anything is written: renaming over /dev/full, a FIFO or a symlink would
  // replace it with a regular file.
  check_output_file(path_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) keep_mode_ = static_cast<int>(st.st_mode & 07777);
  fd_ = create_temp(path_, tmp_);
  if (fd_ < 0) {
    const int e = errno;
    tmp_.clear();
    throw Error("cannot create '" + path_ + "': " + std::strerror(e));
  }
  slot_ = register_temp(tmp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
  unregister_temp(slot_);
}

void AtomicFile::write(const void* data, size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("writing '" + path_ + "' failed: " + std::strerror(errno));
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  // A replaced file keeps its mode (a 0600 file stays private); a new one has the umask's.
  if ((keep_mode_ >= 0 && ::fchmod(fd_, static_cast<mode_t>(keep_mode_)) != 0) || ::fsync(fd_) != 0)
    throw Error("writing '" + path_ + "' failed: " + std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error("writing '" + path_ + "' failed: " + std::strerror(errno));
  }
  fd_ = -1;
  // Checked again just before the rename: the path may have changed while we wrote.
  check_output_file(path_);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error("cannot move finished file into place at '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
  unregister_temp(slot_);
  slot_ = -1;
}

}  // namespace da3
