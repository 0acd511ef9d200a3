#pragma once
// A file that appears at its final path only when complete: written under a temporary name in
// the same directory, flushed to disk, then renamed. If commit() is never reached (an error, an
// exception) the temporary file is removed and any earlier file at `path` is left untouched.
// Only regular files are written: an existing FIFO, device, directory or symbolic link at `path`
// is refused (the rename would replace it). A new file gets mode 0666 less the umask; a replaced
// file keeps its mode.
#include <cstddef>
#include <string>

namespace da3 {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  int slot_ = -1;       // in the signal handler's table of in-flight temporaries
  int keep_mode_ = -1;  // the replaced file's permission bits; -1: a new file
  bool committed_ = false;
};

// Registers a temporary directory for the signal cleanup below: a signal removes it with its
// contents until the registration is released or destroyed (after the directory was renamed
// into place or removed).
class TempDirRegistration {
 public:
  explicit TempDirRegistration(const std::string& dir);
  ~TempDirRegistration();
  TempDirRegistration(const TempDirRegistration&) = delete;
  TempDirRegistration& operator=(const TempDirRegistration&) = delete;
  void release();

 private:
  int slot_ = -1;
};

// Throws da3::Error when `path` exists and is not a regular file (or is a symbolic link).
void check_output_file(const std::string& path);
// Up-front checks, before any work, that outputs can be written: `dir` is a writable directory
// or can be created (its nearest existing ancestor is a writable directory); a file `path` can
// be written (check_output_file, and its directory exists and is writable).
void check_output_dir(const std::string& dir, const std::string& what = "output directory");
void check_output_path(const std::string& path, const std::string& what = "output file");

// SIGINT, SIGTERM and SIGHUP (where they still have their default action) then remove every
// AtomicFile temporary (and registered temporary directory) in flight and end the process by the same signal. For programs (the
// CLI); a library does not install handlers on its own.
void install_temp_file_cleanup_on_signals();

}  // namespace da3
