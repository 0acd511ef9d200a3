#pragma once
// Small helpers shared by the test files.
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace da3::test {

// DA3_TEST_FIXTURES_DIR overrides the build tree's path (the GPU bundle runs away from it).
inline std::string fixtures_dir() {
  const char* env = std::getenv("DA3_TEST_FIXTURES_DIR");
  return env && *env ? env : DA3_FIXTURES_DIR;
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("da3-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Sets (value non-null) or unsets an environment variable for one scope and restores what was
// there before.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name), had_(std::getenv(name) != nullptr) {
    if (had_) old_ = std::getenv(name);
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ScopedEnv(const char* name, const std::string& value) : ScopedEnv(name, value.c_str()) {}
  ~ScopedEnv() { had_ ? ::setenv(name_.c_str(), old_.c_str(), 1) : ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_;
};

}  // namespace da3::test

#include <cmath>

#include "da3/tensor.hpp"

namespace da3::test {

// An f32 tensor of normal(mean, stddev) draws from std::mt19937(seed), in index order: the same
// seed gives the same tensor in every test.
inline Tensor randn(const Shape& shape, uint32_t seed, float stddev = 1.f, float mean = 0.f) {
  Tensor t = Tensor::empty(shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// ||a - b|| / ||b|| over all elements (any dtype, any strides); the norm-wise relative error
// DESIGN.md's tolerances are stated in.
inline double rel_err(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  const Tensor x = a.to(DType::F64), y = b.to(DType::F64);
  const double* p = x.data_as<double>();
  const double* q = y.data_as<double>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    num += (p[i] - q[i]) * (p[i] - q[i]);
    den += q[i] * q[i];
  }
  if (std::isnan(num)) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace da3::test

#include <array>
#include <cstdio>
#include <sys/wait.h>

namespace da3::test {

// Runs the da3 CLI built with this test suite, as a user would from a shell.
struct CliRun {
  int rc;              // exit code, -1 if it did not exit normally
  std::string output;  // stdout and stderr together
};

// `env` is prepended to the command line (e.g. "HF_ENDPOINT=http://127.0.0.1:1").
inline CliRun run_cli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + (env.empty() ? "" : " ") + std::string(DA3_CLI_PATH) + " " + args + " 2>&1";
  CliRun r{-1, ""};
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace da3::test
