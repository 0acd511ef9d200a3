#pragma once
// HTTP(S) downloads with libcurl for `da3 pull`: the size a server reports, and resumable
// downloads that never leave a partial file at the final path (bytes go to `<path>.part`,
// which is renamed only once it has the expected size). libcurl is loaded on the first call
// (io/curl_dl.hpp); when it cannot be, both functions throw da3::Error saying so.
#include <cstdint>
#include <string>

#include "da3/error.hpp"

namespace da3::io {

class DownloadError : public Error {
 public:
  enum class Kind {
    Unreachable,  // no connection at all (DNS, refused, connect timeout): likely offline
    Http,         // the server answered with an error status (`status`)
    Transfer,     // the connection broke or stalled, or the data was not what was announced
  };
  DownloadError(Kind kind, long status, const std::string& what) : Error(what), kind(kind), status(status) {}
  Kind kind;
  long status;  // HTTP status for Kind::Http, else 0
};

struct DownloadOptions {
  // Short on purpose: offline, `da3 pull` should say so at once, not after a minute.
  long connect_timeout_s = 5;
  // A transfer slower than 1 byte/s for this long is abandoned (and resumable).
  long stall_timeout_s = 60;
  bool progress = false;          // a progress line on stderr
  std::string bearer_token;       // Authorization: Bearer (gated repositories); not sent to other hosts
};

// The size in bytes of `url` as the server reports it (HEAD, redirects followed). Hugging
// Face's `X-Linked-Size` (the LFS object's size, given before the CDN redirect) is preferred
// over the final Content-Length. -1 when the server reports none. Throws DownloadError.
int64_t http_remote_size(const std::string& url, const DownloadOptions& options = {});

// Downloads `url` to `path`. An existing `<path>.part` is resumed with an HTTP Range request
// (a server that ignores Range sends everything and the part is rewritten from the start).
// `<path>.part` is renamed to `path` only when complete and, if expected_size >= 0, exactly
// that size; a short transfer keeps the part for the next call, a longer one deletes it.
// Throws DownloadError (or da3::Error for local file problems).
void http_download(const std::string& url, const std::string& path, int64_t expected_size,
                   const DownloadOptions& options = {});

}  // namespace da3::io
