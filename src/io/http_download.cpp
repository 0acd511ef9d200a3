// See http_download.hpp.
#include "io/http_download.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "io/curl_dl.hpp"

namespace da3::io {

namespace fs = std::filesystem;

namespace {

struct Easy {
  CURL* h;
  curl_slist* headers = nullptr;
  char err[CURL_ERROR_SIZE] = {};
  Easy() : h(curl_api().easy_init()) {
    if (!h) throw Error("libcurl could not be initialised");
  }
  ~Easy() {
    curl_api().slist_free_all(headers);
    curl_api().easy_cleanup(h);
  }
};

void common_setup(Easy& e, const std::string& url, const DownloadOptions& o) {
  setopt<CURLOPT_URL>(e.h, url.c_str());
  setopt<CURLOPT_FOLLOWLOCATION>(e.h, 1L);  // the hub redirects LFS files to its CDN
  setopt<CURLOPT_MAXREDIRS>(e.h, 10L);
  setopt<CURLOPT_CONNECTTIMEOUT>(e.h, o.connect_timeout_s);
  setopt<CURLOPT_LOW_SPEED_LIMIT>(e.h, 1L);
  setopt<CURLOPT_LOW_SPEED_TIME>(e.h, o.stall_timeout_s);
  setopt<CURLOPT_FAILONERROR>(e.h, 1L);  // error bodies are never written into the file
  setopt<CURLOPT_ERRORBUFFER>(e.h, e.err);
  setopt<CURLOPT_NOSIGNAL>(e.h, 1L);
  setopt<CURLOPT_USERAGENT>(e.h, "da3.cpp");
  if (!o.bearer_token.empty()) {
    // A custom header is dropped by libcurl when a redirect leaves the host (the CDN needs none).
    e.headers = curl_api().slist_append(e.headers, ("Authorization: Bearer " + o.bearer_token).c_str());
    setopt<CURLOPT_HTTPHEADER>(e.h, e.headers);
  }
}

[[noreturn]] void throw_for(const Easy& e, CURLcode rc, const std::string& url) {
  const std::string detail = e.err[0] ? e.err : curl_api().easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT: {
      // A timeout before any byte arrived is a connect failure; later it is a stalled transfer.
      curl_off_t got = 0;
      getinfo<CURLINFO_SIZE_DOWNLOAD_T>(e.h, &got);
      if (rc != CURLE_OPERATION_TIMEDOUT || got == 0)
        throw DownloadError(DownloadError::Kind::Unreachable, 0, "cannot reach " + url + ": " + detail);
      break;
    }
    case CURLE_HTTP_RETURNED_ERROR: {
      long status = 0;
      getinfo<CURLINFO_RESPONSE_CODE>(e.h, &status);
      throw DownloadError(DownloadError::Kind::Http, status, url + ": HTTP " + std::to_string(status));
    }
    default:
      break;
  }
  throw DownloadError(DownloadError::Kind::Transfer, 0, url + ": " + detail);
}

bool header_is(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

std::string_view header_value(std::string_view line, size_t name_len) {
  line.remove_prefix(name_len + 1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  return line;
}

int64_t to_int(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return -1;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// ----- HEAD -----

size_t linked_size_header(char* data, size_t size, size_t n, void* user) {
  const std::string_view line(data, size * n);
  if (header_is(line, "x-linked-size")) *static_cast<int64_t*>(user) = to_int(header_value(line, 13));
  return size * n;
}

// ----- GET into the .part file -----

struct Transfer {
  CURL* h;
  int fd;
  int64_t offset;          // bytes already in the part when the request was made
  int64_t range_start = -1;  // from Content-Range of a 206
  bool started = false;
  std::string error;       // why the write callback stopped the transfer
  std::string name;        // for the progress line
  int64_t expected;
};

size_t range_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) t->range_start = -1;  // a new response (after a redirect)
  if (header_is(line, "content-range")) {
    std::string_view v = header_value(line, 13);  // "bytes 100-199/200"
    if (v.rfind("bytes ", 0) == 0) {
      v.remove_prefix(6);
      t->range_start = to_int(v.substr(0, v.find('-')));
    }
  }
  return size * n;
}

size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->started) {
    t->started = true;
    long status = 0;
    getinfo<CURLINFO_RESPONSE_CODE>(t->h, &status);
    if (status == 206) {
      if (t->range_start != t->offset) {
        t->error = "the server resumed at byte " + std::to_string(t->range_start) + " instead of " +
                   std::to_string(t->offset);
        return 0;
      }
    } else if (t->offset > 0) {
      // Range ignored: the whole file follows, so the part starts over.
      if (::ftruncate(t->fd, 0) != 0 || ::lseek(t->fd, 0, SEEK_SET) != 0) {
        t->error = std::string("cannot rewrite the partial file: ") + std::strerror(errno);
        return 0;
      }
      t->offset = 0;
    }
  }
  const char* p = data;
  size_t left = size * n;
  while (left > 0) {
    const ssize_t w = ::write(t->fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->error = std::string("cannot write: ") + std::strerror(errno);
      return 0;
    }
    p += w;
    left -= size_t(w);
  }
  return size * n;
}

int progress_line(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  const double mb = 1024.0 * 1024.0;
  const int64_t all = t->expected >= 0 ? t->expected : (total > 0 ? t->offset + total : -1);
  if (all > 0)
    std::fprintf(stderr, "\r  %s  %.1f / %.1f MB\033[K", t->name.c_str(), double(t->offset + now) / mb, double(all) / mb);
  return 0;
}

int64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  const auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(s);
}

}  // namespace

int64_t http_remote_size(const std::string& url, const DownloadOptions& o) {
  Easy e;
  common_setup(e, url, o);
  int64_t linked = -1;
  setopt<CURLOPT_NOBODY>(e.h, 1L);
  setopt<CURLOPT_HEADERFUNCTION>(e.h, linked_size_header);
  setopt<CURLOPT_HEADERDATA>(e.h, &linked);
  const CURLcode rc = curl_api().easy_perform(e.h);
  if (rc != CURLE_OK) throw_for(e, rc, url);
  if (linked >= 0) return linked;
  curl_off_t len = -1;
  getinfo<CURLINFO_CONTENT_LENGTH_DOWNLOAD_T>(e.h, &len);
  return len >= 0 ? static_cast<int64_t>(len) : -1;
}

void http_download(const std::string& url, const std::string& path, int64_t expected, const DownloadOptions& o) {
  curl_api();  // a missing libcurl is reported before the part file is touched
  const std::string part = path + ".part";
  int64_t have = file_size_or_zero(part);
  if (expected >= 0 && have > expected) {  // not a prefix of this file: start over
    fs::remove(part);
    have = 0;
  }
  if (expected < 0 || have < expected) {
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot write '" + part + "': " + std::strerror(errno));
    Easy e;
    Transfer t{.h = e.h, .fd = fd, .offset = have, .error = {}, .name = fs::path(path).filename().string(), .expected = expected};
    common_setup(e, url, o);
    // CURLOPT_RANGE rather than RESUME_FROM: libcurl fails a resume the server ignores, while we
    // take the full 200 answer and rewrite the part (write_body).
    const std::string range = std::to_string(have) + "-";
    if (have > 0) setopt<CURLOPT_RANGE>(e.h, range.c_str());
    setopt<CURLOPT_HEADERFUNCTION>(e.h, range_header);
    setopt<CURLOPT_HEADERDATA>(e.h, &t);
    setopt<CURLOPT_WRITEFUNCTION>(e.h, write_body);
    setopt<CURLOPT_WRITEDATA>(e.h, &t);
    if (o.progress) {
      setopt<CURLOPT_NOPROGRESS>(e.h, 0L);
      setopt<CURLOPT_XFERINFOFUNCTION>(e.h, progress_line);
      setopt<CURLOPT_XFERINFODATA>(e.h, &t);
    }
    CURLcode rc = curl_api().easy_perform(e.h);
    if (o.progress) std::fputc('\n', stderr);
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!t.error.empty()) {
      fs::remove(part);  // its content is now of unknown origin
      throw DownloadError(DownloadError::Kind::Transfer, 0, url + ": " + t.error);
    }
    if (rc != CURLE_OK) {
      long status = 0;
      getinfo<CURLINFO_RESPONSE_CODE>(e.h, &status);
      if (status == 416) fs::remove(part);  // our range was past the file's end: the part is not its prefix
      throw_for(e, rc, url);
    }
    if (!synced) throw Error("cannot flush '" + part + "' to disk: " + std::strerror(errno));
    have = file_size_or_zero(part);
  }
  if (expected >= 0 && have != expected) {
    if (have > expected) fs::remove(part);
    throw DownloadError(DownloadError::Kind::Transfer, 0,
                        url + ": got " + std::to_string(have) + " bytes, the server announced " +
                            std::to_string(expected) + (have < expected ? " (run again to resume)" : ""));
  }
  std::error_code ec;
  fs::rename(part, path, ec);
  if (ec) throw Error("cannot rename '" + part + "' to '" + path + "': " + ec.message());
}

}  // namespace da3::io
