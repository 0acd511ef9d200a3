// A Hugging Face model directory (src/io/checkpoint.cpp + src/model/config_json.cpp): the input
// holds the directory's files separated by "\nDA3-NEXT-FILE\n":
//   part 0: config.json
//   part 1: model.safetensors (when not empty)
//   part 2: model.safetensors.index.json (written only when part 1 is empty)
//   part 3...: shard files, written as shard-0.safetensors, shard-1.safetensors, ...
// Every name the checkpoint reports (aliases included) is resolved and its bytes read; the
// config is parsed as Model::load would.
#include "da3/checkpoint.hpp"
#include "da3/config.hpp"
#include "da3/error.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace da3::fuzz;
  clear_scratch();
  const auto parts = split({reinterpret_cast<const char*>(data), size}, "\nDA3-NEXT-FILE\n");
  write_file("config.json", parts[0]);
  if (parts.size() > 1 && !parts[1].empty()) write_file("model.safetensors", parts[1]);
  else if (parts.size() > 2) write_file("model.safetensors.index.json", parts[2]);
  for (size_t i = 3; i < parts.size(); ++i) write_file("shard-" + std::to_string(i - 3) + ".safetensors", parts[i]);
  try {
    const auto c = da3::Checkpoint::open(scratch_dir());
    uint64_t sum = c.total_bytes();
    for (const auto& n : c.names()) {
      if (!c.contains(n)) __builtin_trap();
      const auto& e = c.entry(n);
      sum += e.end - e.begin;
      sum += touch(c.tensor(n));
    }
    const auto cfg = da3::parse_model_config(c.config_json(), "config.json");
    sum += cfg.model_name.size();
    volatile uint64_t keep = sum;
    (void)keep;
  } catch (const da3::Error& e) {
    da3::fuzz::note(e);
  }
  return 0;
}
