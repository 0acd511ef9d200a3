#include "attention/select.hpp"

#include "core/text.hpp"

namespace da3 {

const char* attention_backend_name(AttentionBackend b) {
  switch (b) {
    case AttentionBackend::Auto: return "auto";
    case AttentionBackend::FlashAttn: return "flash_attn";
    case AttentionBackend::Sdpa: return "sdpa";
    case AttentionBackend::Manual: return "manual";
  }
  return "?";
}

std::optional<AttentionBackend> parse_attention_backend(std::string_view name) {
  const std::string v = detail::lower_trimmed(name);
  for (AttentionBackend b :
       {AttentionBackend::Auto, AttentionBackend::FlashAttn, AttentionBackend::Sdpa, AttentionBackend::Manual}) {
    if (v == attention_backend_name(b)) return b;
  }
  return std::nullopt;
}

const char* attention_precision_name(AttentionPrecision p) {
  switch (p) {
    case AttentionPrecision::Auto: return "auto";
    case AttentionPrecision::F32: return "f32";
    case AttentionPrecision::BF16: return "bf16";
    case AttentionPrecision::F16: return "f16";
  }
  return "?";
}

namespace attn {

Selection select_backend(const SelectionInputs& in) {
  Selection s;
  // An empty env value counts as unset (as `DA3_ATTENTION_BACKEND= cmd` means "no override").
  std::optional<AttentionBackend> env_choice;
  if (in.env && in.env->find_first_not_of(" \t") != std::string::npos) {
    env_choice = parse_attention_backend(*in.env);
    s.env_invalid = !env_choice.has_value();
  }
  if (in.call != AttentionBackend::Auto) {
    s.requested = in.call;
    s.requested_by = "call";
  } else if (in.model != AttentionBackend::Auto) {
    s.requested = in.model;
    s.requested_by = "model";
  } else if (env_choice && *env_choice != AttentionBackend::Auto) {
    s.requested = *env_choice;
    s.requested_by = "env";
  }

  if (s.requested == AttentionBackend::Auto) {
    s.backend = in.flash_available ? AttentionBackend::FlashAttn : AttentionBackend::Sdpa;
  } else {
    s.backend = s.requested;
  }
  if (s.backend == AttentionBackend::FlashAttn && !in.flash_available) {
    s.backend = AttentionBackend::Sdpa;
    s.fallback = Fallback::FlashUnavailableToSdpa;
  } else if (s.backend == AttentionBackend::FlashAttn && in.has_mask) {
    s.backend = AttentionBackend::Sdpa;
    s.fallback = Fallback::MaskToSdpa;
  }
  return s;
}

std::string env_invalid_message(const std::string& value) {
  return "DA3_ATTENTION_BACKEND='" + value +
         "' is not a known attention backend; valid values are flash_attn, sdpa, manual, auto "
         "(case-insensitive). Ignoring it and choosing automatically.";
}

std::string fallback_message(const Selection& s, const SelectionInputs& in) {
  const std::string who = std::string("flash_attn (requested by ") +
                          (s.requested == AttentionBackend::Auto ? "automatic selection" : s.requested_by) + ")";
  switch (s.fallback) {
    case Fallback::None: return "";
    case Fallback::MaskToSdpa:
      return "attention: " + who + " does not take an attention mask; using sdpa for masked calls";
    case Fallback::FlashUnavailableToSdpa:
      return "attention: " + who + " is not available (" + in.flash_unavailable_reason + "); using sdpa";
  }
  return "";
}

}  // namespace attn
}  // namespace da3
