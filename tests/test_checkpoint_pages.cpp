// After the first forward no page of the mapped checkpoint stays in this process's resident set:
// small tensors read on every forward are owned copies, the rest were packed and their pages
// dropped (with the fault-around neighbours), so a long-running process (a server, a stream)
// does not hold the file a second time.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "da3/model.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

// Resident kB of this process's mappings of `path_suffix` (-1: no such mapping), from smaps.
long resident_kb_of(const std::string& path_suffix) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  long total = -1;
  bool in_it = false;
  while (std::getline(smaps, line)) {
    const bool header = !line.empty() && line.find(':') != std::string::npos &&
                        line.find('-') < line.find(' ') && line.find(' ') != std::string::npos &&
                        std::isxdigit(static_cast<unsigned char>(line[0]));
    if (header) {
      in_it = line.size() >= path_suffix.size() &&
              line.compare(line.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0;
      continue;
    }
    if (in_it && line.rfind("Rss:", 0) == 0) total = (total < 0 ? 0 : total) + std::stol(line.substr(4));
  }
  return total;
}

}  // namespace

TEST(CheckpointPages, NoneResidentAfterTheFirstForward) {
  const std::string suffix = "tiny-anyview/model.safetensors";
  Model m = Model::load(test::fixtures_dir() + "/tiny-anyview");
  Tensor x = Tensor::empty({1, 2, 3, 56, 70});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = nd(rng);
  const Prediction first = m.forward(x);
  const Prediction second = m.forward(x);
  const long kb = resident_kb_of(suffix);
  ASSERT_GE(kb, 0) << "the checkpoint is not mapped: " << suffix;
  EXPECT_EQ(kb, 0) << "checkpoint pages resident after two forwards";
  EXPECT_EQ(test::rel_err(second.depth, first.depth), 0.0);  // and the copies give the same result
}
