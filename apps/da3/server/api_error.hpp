#pragma once
// An error a request caused, with the HTTP status and the machine-readable code it is answered
// with ({"error": {"code": ..., "message": ...}}). Thrown anywhere below the routes; the routes
// turn it into the response, so no handler writes an error body by hand.
#include <stdexcept>
#include <string>

namespace da3::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

}  // namespace da3::server
