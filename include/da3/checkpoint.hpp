#pragma once
// A Hugging Face model directory as published: config.json plus model.safetensors, or a sharded
// set named by model.safetensors.index.json. No conversion step: tensors are views on the mapped
// files. Names that save_pretrained de-duplicated (listed in the safetensors __metadata__ as
// "removed name" -> "kept name") resolve to the tensor they alias.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "da3/safetensors.hpp"
#include "da3/tensor.hpp"

namespace da3 {

class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::string& config_json() const { return config_json_; }  // the raw config.json text
  // Every name the model's state dict had: stored tensors and de-duplicated aliases.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  bool is_alias(const std::string& name) const { return aliases_.count(name) != 0; }
  const std::map<std::string, std::string>& aliases() const { return aliases_; }
  const SafetensorsEntry& entry(const std::string& name) const;  // resolves aliases
  Tensor tensor(const std::string& name) const;                   // zero-copy view
  size_t total_bytes() const;                                     // sum of the files' sizes
  // See SafetensorsFile::release_resident_pages.
  void release_resident_pages() const;

 private:
  std::string dir_;
  std::string config_json_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;           // stored name -> index into files_
  std::map<std::string, std::string> aliases_;    // alias -> stored name
};

}  // namespace da3
