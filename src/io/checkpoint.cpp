#include "da3/checkpoint.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace da3 {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p, const std::string& what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot read " + what + " '" + p.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint c;
  c.dir_ = dir;
  const fs::path root(dir);
  const std::string how =
      " Download the model directory as published on Hugging Face (config.json and model.safetensors), "
      "e.g. with `da3 pull`, and point --model at it.";
  if (!fs::is_directory(root)) throw Error("model directory '" + dir + "' does not exist or is not a directory." + how);
  const fs::path config = root / "config.json";
  if (!fs::is_regular_file(config)) throw Error("model directory '" + dir + "' has no config.json." + how);
  c.config_json_ = read_text(config, "model config");

  std::vector<fs::path> shards;
  const fs::path single = root / "model.safetensors";
  const fs::path index = root / "model.safetensors.index.json";
  if (fs::is_regular_file(single)) {
    shards.push_back(single);
  } else if (fs::is_regular_file(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text(index, "shard index"));
    } catch (const nlohmann::json::exception& e) {
      throw Error("shard index '" + index.string() + "' is not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error("shard index '" + index.string() + "' has no weight_map object");
    std::vector<std::string> names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw Error("shard index '" + index.string() + "': weight_map['" + it.key() + "'] is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos) throw Error("shard index '" + index.string() + "' names a file outside the directory: '" + f + "'");
      if (std::find(names.begin(), names.end(), f) == names.end()) names.push_back(f);
    }
    for (const auto& n : names) shards.push_back(root / n);
  } else {
    throw Error("model directory '" + dir + "' has neither model.safetensors nor model.safetensors.index.json." + how);
  }

  std::map<std::string, std::string> metadata;
  for (const auto& s : shards) {
    auto f = std::make_shared<SafetensorsFile>(SafetensorsFile::open(s.string()));
    const size_t idx = c.files_.size();
    for (const auto& e : f->entries()) {
      if (c.where_.count(e.name))
        throw Error("tensor '" + e.name + "' is stored twice: in '" + c.files_[c.where_[e.name]]->path() +
                    "' and in '" + f->path() + "'");
      c.where_[e.name] = idx;
    }
    for (const auto& [k, v] : f->metadata()) metadata[k] = v;
    c.files_.push_back(std::move(f));
  }
  // save_pretrained drops tensors that share memory and records "dropped -> kept" in the
  // metadata. Other metadata ("format": "pt") names no stored tensor and is ignored.
  for (const auto& [k, v] : metadata) {
    if (!c.where_.count(k) && c.where_.count(v)) c.aliases_[k] = v;
  }
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : where_) out.push_back(n);
  for (const auto& [n, _] : aliases_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

bool Checkpoint::contains(const std::string& name) const { return where_.count(name) || aliases_.count(name); }

const SafetensorsEntry& Checkpoint::entry(const std::string& name) const {
  auto a = aliases_.find(name);
  const std::string& stored = a == aliases_.end() ? name : a->second;
  auto it = where_.find(stored);
  if (it == where_.end()) throw Error("checkpoint '" + dir_ + "' has no tensor named '" + name + "'");
  return files_[it->second]->entry(stored);
}

Tensor Checkpoint::tensor(const std::string& name) const {
  auto a = aliases_.find(name);
  const std::string& stored = a == aliases_.end() ? name : a->second;
  auto it = where_.find(stored);
  if (it == where_.end()) throw Error("checkpoint '" + dir_ + "' has no tensor named '" + name + "'");
  return files_[it->second]->tensor(stored);
}

size_t Checkpoint::total_bytes() const {
  size_t n = 0;
  for (const auto& f : files_) n += f->file_size();
  return n;
}

void Checkpoint::release_resident_pages() const {
  for (const auto& f : files_) f->release_resident_pages();
}

}  // namespace da3
