#include "da3/log.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

namespace da3 {

namespace {

LogLevel level_from_env() {
  const char* env = std::getenv("DA3_LOG_LEVEL");
  if (!env || !*env) return LogLevel::Warn;
  std::string v(env);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "error") return LogLevel::Error;
  if (v == "warn" || v == "warning") return LogLevel::Warn;
  if (v == "info") return LogLevel::Info;
  if (v == "debug") return LogLevel::Debug;
  if (v == "trace") return LogLevel::Trace;
  std::fprintf(stderr, "da3 [warn] DA3_LOG_LEVEL='%s' is not one of error|warn|info|debug|trace; using warn\n", env);
  return LogLevel::Warn;
}

struct State {
  std::mutex mu;
  LogLevel level = level_from_env();
  std::set<std::string> once;
};

State& state() {
  static State s;
  return s;
}

const char* tag(LogLevel l) {
  switch (l) {
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warn";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
    case LogLevel::Trace: return "trace";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) {
  std::lock_guard<std::mutex> lk(state().mu);
  state().level = level;
}

LogLevel log_level() {
  std::lock_guard<std::mutex> lk(state().mu);
  return state().level;
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(log_level()); }

void log(LogLevel level, const std::string& message) {
  if (!log_enabled(level)) return;
  std::lock_guard<std::mutex> lk(state().mu);
  std::fprintf(stderr, "da3 [%s] %s\n", tag(level), message.c_str());
}

void log_once(LogLevel level, const std::string& key, const std::string& message) {
  {
    std::lock_guard<std::mutex> lk(state().mu);
    if (!state().once.insert(key).second) return;
  }
  log(level, message);
}

}  // namespace da3
