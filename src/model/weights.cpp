#include "model/weights.hpp"

#include <utility>

#include "core/finite.hpp"

namespace da3::model {

namespace {
constexpr size_t kOwnedBelowBytes = size_t(64) << 10;  // f32 tensors up to this size are copied
}  // namespace

Weights::Weights(const Checkpoint& ckpt, std::string prefix)
    : state_(std::make_shared<State>(State{&ckpt, {}, {}, {}})), prefix_(std::move(prefix)) {}

Weights Weights::child(const std::string& name) const { return Weights(state_, prefix_ + name + "."); }

bool Weights::has(const std::string& name) const { return state_->ckpt->contains(prefix_ + name); }

Tensor Weights::get(const std::string& name, const Shape& shape) const {
  const Tensor t = get_stored(name, shape);
  // A view, read where it is used (no pass here) — but small tensors (norms, biases, tokens),
  // read on every forward, are copied: their pages, and the neighbours the kernel maps around
  // each fault, can then be dropped for good after the first forward (model_api.cpp).
  if (t.dtype() == DType::F32) return t.nbytes() <= kOwnedBelowBytes ? t.clone() : t;
  Tensor f = t.to(DType::F32);
  // The conversion read every value already: checked while it is in cache.
  da3::detail::check_finite_weight(f, prefix_ + name);
  return f;
}

Tensor Weights::get_stored(const std::string& name, const Shape& shape) const {
  const std::string full = prefix_ + name;
  if (!state_->ckpt->contains(full)) {
    std::string entry = full;  // appended in steps: GCC 12 warns (-Wrestrict, falsely) on `" " + str`
    if (!shape.empty()) entry.append(" ").append(shape_str(shape));
    state_->missing.push_back(std::move(entry));
    return Tensor::zeros(shape.empty() ? Shape{1} : shape);
  }
  state_->used.insert(full);
  Tensor t = state_->ckpt->tensor(full);
  if (!shape.empty() && t.shape() != shape) {
    state_->mismatched.push_back(full + ": file has " + shape_str(t.shape()) + ", model expects " + shape_str(shape));
    return Tensor::zeros(shape);
  }
  DA3_CHECK(dtype_is_float(t.dtype()) && t.dtype() != DType::F64,
            "checkpoint tensor '" + full + "' has dtype " + dtype_name(t.dtype()) + "; expected F32, F16 or BF16");
  return t;
}

void Weights::ignore_subtree(const std::string& name) const {
  const std::string p = prefix_ + name + ".";
  for (const auto& n : state_->ckpt->names())
    if (n.rfind(p, 0) == 0) state_->used.insert(n);
}

void Weights::finish() const {
  std::vector<std::string> unused;
  for (const auto& n : state_->ckpt->names())
    if (!state_->used.count(n)) unused.push_back(n);
  if (state_->missing.empty() && state_->mismatched.empty() && unused.empty()) return;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    const size_t show = std::min<size_t>(v.size(), 20);
    for (size_t i = 0; i < show; ++i) s += "\n    " + v[i];
    if (v.size() > show) s += "\n    ... and " + std::to_string(v.size() - show) + " more";
    return s;
  };
  std::string msg = "checkpoint '" + state_->ckpt->dir() + "' does not match the architecture its config.json describes:";
  if (!state_->missing.empty()) msg += "\n  missing tensors (" + std::to_string(state_->missing.size()) + "):" + list(state_->missing);
  if (!state_->mismatched.empty())
    msg += "\n  shape mismatches (" + std::to_string(state_->mismatched.size()) + "):" + list(state_->mismatched);
  if (!unused.empty()) msg += "\n  unexpected tensors (" + std::to_string(unused.size()) + "):" + list(unused);
  msg += "\n  Is config.json from the same model as model.safetensors?";
  throw Error(msg);
}

}  // namespace da3::model
