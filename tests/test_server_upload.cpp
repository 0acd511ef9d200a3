// The server's handling of a request's parts without a server (apps/da3/server/upload.cpp,
// task_options.cpp): client file names made safe, parts sorted and refused with a 4xx. The
// end-to-end behaviour over HTTP is test_server.cpp's; these pin what fuzz_upload found.
#include <gtest/gtest.h>
#include <httplib.h>

#include <string>

#include "server/api_error.hpp"
#include "server/task_options.hpp"
#include "server/upload.hpp"

namespace {

using da3::server::safe_file_name;

void expect_plain_name(const std::string& client) {
  const std::string s = safe_file_name(client, 3);
  SCOPED_TRACE("client name '" + client + "' -> '" + s + "'");
  EXPECT_FALSE(s.empty());
  EXPECT_NE(s[0], '.');
  EXPECT_EQ(s.find('/'), std::string::npos);
  EXPECT_EQ(s.find('\\'), std::string::npos);
  EXPECT_LE(s.size(), 100u);
}

TEST(ServerUpload, SafeFileNameKeepsOnePlainNameInOneFolder) {
  EXPECT_EQ(safe_file_name("../../etc/passwd", 0), "passwd");
  EXPECT_EQ(safe_file_name("a b?.png", 0), "a_b_.png");
  EXPECT_EQ(safe_file_name("..", 7), "image_7");
  EXPECT_EQ(safe_file_name(".bashrc", 0), "bashrc");
  for (const char* c : {"", ".", "..", "/", "a/..", "..\\..\\x.png", "...png", "C:\\x\\y.jpg"}) expect_plain_name(c);
}

// fuzz_upload's crash: a long name whose cut to the last 100 characters begins with '.'
// ("a.p" + 99 other characters -> ".p___..."): it was cut after the leading dots were removed.
TEST(ServerUpload, SafeFileNameCutToLengthHasNoLeadingDot) {
  for (size_t extra = 95; extra < 105; ++extra) {
    expect_plain_name("a.p" + std::string(extra, '\xcb'));
    expect_plain_name("x" + std::string(extra, '.') + "png");
  }
  EXPECT_EQ(safe_file_name("a.p" + std::string(99, 'q'), 0), "p" + std::string(99, 'q'));
}

TEST(ServerUpload, PartsAreSortedAndBadOnesRefusedWithA4xx) {
  httplib::Request req;
  req.set_header("Content-Type", "application/json");
  try {
    da3::server::split_upload(req, 4);
    FAIL() << "a JSON body was accepted";
  } catch (const da3::server::ApiError& e) {
    EXPECT_EQ(e.status(), 415);
  }
  req.headers.clear();  // set_header adds a second Content-Type
  req.set_header("Content-Type", "multipart/form-data; boundary=x");
  req.files.emplace("process-res", httplib::MultipartFormData{"process-res", "504", "", ""});
  try {
    da3::server::split_upload(req, 4);
    FAIL() << "a request without images was accepted";
  } catch (const da3::server::ApiError& e) {
    EXPECT_EQ(e.status(), 400);
  }
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x1c\0\0\0\x1c\x08\x02\0\0\0", 29);
  req.files.emplace("images", httplib::MultipartFormData{"images", png, "a.png", "image/png"});
  const auto parts = da3::server::split_upload(req, 4);
  ASSERT_EQ(parts.images.size(), 1u);
  EXPECT_EQ(parts.fields.at("process_res"), "504");
  EXPECT_EQ(da3::server::parse_task_options(parts.fields).preprocess.process_res, 504);
  try {
    da3::server::parse_task_options({{"process_res", "5e2"}});
    FAIL() << "a non-integer process_res was accepted";
  } catch (const da3::server::ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("process_res"), std::string::npos);
  }
}

}  // namespace
