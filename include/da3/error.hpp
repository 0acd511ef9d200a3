#pragma once
// One exception type for every failure a user can cause or fix: the message says what was
// wrong and, where there is one, what to do about it.
#include <stdexcept>
#include <string>

namespace da3 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace da3

// Throws da3::Error when `cond` is false. `msg` is any expression convertible to std::string.
#define DA3_CHECK(cond, msg)                   \
  do {                                         \
    if (!(cond)) throw ::da3::Error(msg);      \
  } while (0)
