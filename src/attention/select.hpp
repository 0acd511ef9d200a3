#pragma once
// Backend selection as a pure function of its inputs, so each rule can be tested without
// touching the process environment or the hardware. attention.cpp feeds it the real inputs
// (env, device capabilities) and does the logging.
#include <optional>
#include <string>

#include "da3/attention.hpp"

namespace da3::attn {

struct SelectionInputs {
  AttentionBackend call = AttentionBackend::Auto;   // AttentionOptions::backend
  AttentionBackend model = AttentionBackend::Auto;  // AttentionOptions::model_backend
  std::optional<std::string> env;                   // DA3_ATTENTION_BACKEND; nullopt when unset
  bool flash_available = true;   // a flash kernel exists for this device, head dim and precision
  std::string flash_unavailable_reason;  // why not, for the log
  bool has_mask = false;
};

enum class Fallback { None, MaskToSdpa, FlashUnavailableToSdpa };

struct Selection {
  AttentionBackend requested = AttentionBackend::Auto;  // after call > model > env; Auto if none
  const char* requested_by = "auto";                    // "call", "model", "env" or "auto"
  AttentionBackend backend = AttentionBackend::Sdpa;    // what runs
  bool env_invalid = false;                             // env set to something unknown
  Fallback fallback = Fallback::None;
};

Selection select_backend(const SelectionInputs& in);

// The one-line messages the entry point logs (exposed for the tests).
std::string env_invalid_message(const std::string& value);
std::string fallback_message(const Selection& s, const SelectionInputs& in);

}  // namespace da3::attn
