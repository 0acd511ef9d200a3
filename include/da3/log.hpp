#pragma once
// Levelled logging to stderr. Quiet by default (warnings and errors only); DA3_LOG_LEVEL
// = error|warn|info|debug|trace (case-insensitive) or set_log_level() changes it.
#include <string>

namespace da3 {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);
void log(LogLevel level, const std::string& message);
// Logs `message` the first time `key` is seen in this process (fallback notices and the like).
void log_once(LogLevel level, const std::string& key, const std::string& message);

inline void log_error(const std::string& m) { log(LogLevel::Error, m); }
inline void log_warn(const std::string& m) { log(LogLevel::Warn, m); }
inline void log_info(const std::string& m) { log(LogLevel::Info, m); }
inline void log_debug(const std::string& m) { log(LogLevel::Debug, m); }

}  // namespace da3
