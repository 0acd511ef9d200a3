#pragma once
// A real `da3 serve` for the tests: started on a free loopback port (--port 0; the port is read
// from its "listening on" line), stopped with SIGTERM as a service manager would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace da3::test {

class ServerProcess {
 public:
  // `args` follow `da3 serve --port 0 --host 127.0.0.1`.
  explicit ServerProcess(const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 2);
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::vector<std::string> all = {DA3_CLI_PATH, "serve", "--port", "0", "--host", "127.0.0.1"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    // Read until the port is known (or the process died / 30 s passed).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      if (!read_some(200)) break;
      const auto at = log_.find("listening on http://127.0.0.1:");
      if (at != std::string::npos && log_.find('/', at + 30) != std::string::npos)
        port_ = std::stoi(log_.substr(at + 30));
    }
    if (port_ == 0) {
      stop();
      throw std::runtime_error("da3 serve did not start:\n" + log_);
    }
  }
  ~ServerProcess() { stop(); }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // SIGTERM, then waits (at most `timeout_s`, then SIGKILL). Returns the exit code, -1 if killed
  // by a signal (or by the timeout). Idempotent.
  int stop(int timeout_s = 60) {
    if (pid_ <= 0) return rc_;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
      read_some(50);
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        status = -1;
        break;
      }
    }
    while (read_some(0)) {
    }
    ::close(fd_);
    pid_ = -1;
    rc_ = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return rc_;
  }

  const std::string& log() const { return log_; }

 private:
  // False at end of file.
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return timeout_ms > 0;  // nothing yet: keep going
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    log_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1, port_ = 0, rc_ = -1;
  std::string log_;
};

}  // namespace da3::test
