#pragma once
// The media plugin (libda3_media.so, see media_plugin.hpp), loaded on first use so that a
// process that never touches image or video files never maps OpenCV.
#include <string>
#include <vector>

#include "io/media_plugin.hpp"

namespace da3::io {

// The loaded plugin; loads it on the first call (thread-safe). Throws da3::Error saying where
// it looked and how to point da3 at it when it cannot be loaded; the next call tries again.
MediaPlugin& media();

// Where media() looks, in order: $DA3_MEDIA_PLUGIN alone when set; else next to the running
// executable, then ../<libdir>/da3/ from it (the installed layout), then the build tree's copy.
std::vector<std::string> media_plugin_candidates();

// Loads the first of `candidates` that is a loadable plugin of this ABI version; da3::Error
// listing every path and why it failed otherwise. Plugins stay loaded for the process's life.
MediaPlugin& load_media_plugin(const std::vector<std::string>& candidates);

}  // namespace da3::io
