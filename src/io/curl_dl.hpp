#pragma once
// libcurl entry points resolved with dlopen on first use instead of linked: only `da3 pull`
// needs it, but linking it costs every process ~6.5 MB of resident memory and ~30 shared
// libraries (TLS, Kerberos, LDAP, ...) loaded at startup. curl's headers still give the types
// and constants; nothing here may call a curl_* function directly (it would not link).
#include <curl/curl.h>

#include <string>
#include <type_traits>

namespace da3::io {

// Typed as the header declares each function, so a libcurl with the same soname matches.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;  // variadic, as exported: see setopt() below
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;  // variadic, as exported: see getinfo() below
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// Loads libcurl.so.4 and runs curl_global_init the first time (thread-safe); throws da3::Error
// saying that `da3 pull` needs libcurl when it cannot be loaded. A failed load is retried on the
// next call.
const CurlApi& curl_api();

// Resolves the table from `soname` without curl_global_init; the library stays loaded on success.
// For curl_api() and for tests of the error path.
CurlApi load_curl_api(const std::string& soname);

// libcurl reads each variadic argument with va_arg as the type the option number encodes (long,
// object pointer, function pointer, curl_off_t); an argument of another type (an int literal, a
// lambda, a double) is undefined behaviour that happens to work on some ABIs. Checked here at
// compile time.
template <CURLoption Opt, typename T>
CURLcode setopt(CURL* h, T value) {
  constexpr int kind = Opt / 10000 * 10000;
  if constexpr (kind == CURLOPTTYPE_LONG) {
    static_assert(std::is_same_v<T, long>, "this option takes a long (write 1L, not 1)");
  } else if constexpr (kind == CURLOPTTYPE_OBJECTPOINT || kind == CURLOPTTYPE_BLOB) {
    static_assert(std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>,
                  "this option takes an object pointer");
  } else if constexpr (kind == CURLOPTTYPE_FUNCTIONPOINT) {
    static_assert(std::is_pointer_v<T> && std::is_function_v<std::remove_pointer_t<T>>,
                  "this option takes a function pointer (a lambda needs an explicit conversion)");
  } else {
    static_assert(kind == CURLOPTTYPE_OFF_T && std::is_same_v<T, curl_off_t>, "this option takes a curl_off_t");
  }
  return curl_api().easy_setopt(h, Opt, value);
}

// The same for curl_easy_getinfo, whose variadic argument points to the type the info encodes.
template <CURLINFO Info, typename T>
CURLcode getinfo(CURL* h, T* out) {
  constexpr int kind = Info & CURLINFO_TYPEMASK;
  if constexpr (kind == CURLINFO_LONG) {
    static_assert(std::is_same_v<T, long>, "this info is a long");
  } else if constexpr (kind == CURLINFO_OFF_T) {
    static_assert(std::is_same_v<T, curl_off_t>, "this info is a curl_off_t");
  } else if constexpr (kind == CURLINFO_DOUBLE) {
    static_assert(std::is_same_v<T, double>, "this info is a double");
  } else if constexpr (kind == CURLINFO_STRING) {
    static_assert(std::is_same_v<T, char*>, "this info is a char*");
  } else if constexpr (kind == CURLINFO_SOCKET) {
    static_assert(std::is_same_v<T, curl_socket_t>, "this info is a curl_socket_t");
  } else {
    static_assert(kind == CURLINFO_PTR && std::is_pointer_v<T>, "this info is a pointer");
  }
  return curl_api().easy_getinfo(h, Info, out);
}

}  // namespace da3::io
