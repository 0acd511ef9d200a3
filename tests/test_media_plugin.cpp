// Finding and loading libda3_media.so (src/io/media.hpp). The suite links OpenCV itself, so the
// plugin may be loaded already: the error paths go through load_media_plugin() with explicit
// candidates, which media() also uses.
#include <gtest/gtest.h>

#include <filesystem>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "da3/error.hpp"
#include "io/media.hpp"
#include "test_util.hpp"

namespace {

using da3::test::ScopedEnv;

std::string load_error(const std::vector<std::string>& candidates) {
  try {
    da3::io::load_media_plugin(candidates);
  } catch (const da3::Error& e) {
    return e.what();
  }
  return "";
}

TEST(MediaPlugin, MissingFileNamedByTheVariableIsAClearError) {
  const std::string missing = "/nonexistent/dir/libda3_media.so";
  ScopedEnv env("DA3_MEDIA_PLUGIN", missing.c_str());
  const auto candidates = da3::io::media_plugin_candidates();
  ASSERT_EQ(candidates.size(), 1u);  // an explicit path is never second-guessed
  EXPECT_EQ(candidates[0], missing);
  const std::string msg = load_error(candidates);
  ASSERT_FALSE(msg.empty()) << "loading a missing plugin did not throw";
  EXPECT_NE(msg.find(missing + " (does not exist)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DA3_MEDIA_PLUGIN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("libda3_media.so"), std::string::npos) << msg;
  EXPECT_NE(msg.find("images and video"), std::string::npos) << msg;
}

TEST(MediaPlugin, SearchesNextToTheExecutableThenTheInstalledLayout) {
  ScopedEnv env("DA3_MEDIA_PLUGIN", nullptr);
  const auto c = da3::io::media_plugin_candidates();
  ASSERT_GE(c.size(), 2u);
  const std::string dir = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  EXPECT_EQ(c[0], dir + "/libda3_media.so");
  // cmake --install puts da3 in bin/ and the plugin in <libdir>/da3/.
  EXPECT_EQ(c[1].rfind(dir + "/../", 0), 0u) << c[1];
  EXPECT_NE(c[1].find("/da3/libda3_media.so"), std::string::npos) << c[1];
}

TEST(MediaPlugin, FilesThatAreNotPluginsAreRejectedWithTheReason) {
  da3::test::TempDir d;
  {
    std::ofstream(d.file("text.so")) << "not a shared library\n";
  }
  ScopedEnv env("DA3_MEDIA_PLUGIN", nullptr);
  std::string msg = load_error({d.file("text.so")});
  EXPECT_NE(msg.find(d.file("text.so") + " (cannot be loaded: "), std::string::npos) << msg;
  // A real shared library without the entry points: libc.
  msg = load_error({d.file("missing.so"), "/lib/x86_64-linux-gnu/libc.so.6"});
  if (msg.find("libc.so.6 (does not exist)") == std::string::npos)
    EXPECT_NE(msg.find("is not a da3 media plugin"), std::string::npos) << msg;
  EXPECT_NE(msg.find(d.file("missing.so") + " (does not exist)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Set DA3_MEDIA_PLUGIN"), std::string::npos) << msg;
}

TEST(MediaPlugin, TheBuildTreePluginIsFoundWithoutTheVariable) {
  ScopedEnv env("DA3_MEDIA_PLUGIN", nullptr);
  const auto candidates = da3::io::media_plugin_candidates();
  ASSERT_FALSE(candidates.empty());
  da3::io::MediaPlugin& p = da3::io::load_media_plugin(candidates);
  EXPECT_EQ(&p, &da3::io::media());  // one plugin object however it is reached
  // A 16-bit PNG round trip through the plugin.
  std::vector<uint16_t> grey(20 * 15);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint16_t>(i * 211);
  std::vector<uint8_t> png;
  std::string error;
  ASSERT_TRUE(p.encode_png({grey.data(), 20, 15, 1, da3::io::PixelType::U16, 40}, png, error)) << error;
  EXPECT_GT(png.size(), 8u);
  EXPECT_EQ(png[1], 'P');
}

}  // namespace
