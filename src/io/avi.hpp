#pragma once
// A minimal AVI writer: uncompressed 24-bit RGB frames (BI_RGB DIBs) in a RIFF AVI with an
// index, which FFmpeg, VLC, OpenCV and Windows read without any codec. Used for feat_vis videos
// (the reference pipes JPEGs through an ffmpeg binary; we need no external program).
#include <cstdint>
#include <string>
#include <vector>

namespace da3::io {

// Writes `frames` (each width x height x 3 bytes, RGB, row-major) at `fps` to `path`, atomically.
// Throws da3::Error for no frames, a bad size or rate, or a file beyond 1 GiB (a RIFF limit we
// keep well away from; a longer video would need OpenDML).
void write_avi_rgb(const std::string& path, const std::vector<const uint8_t*>& frames, int width, int height,
                   double fps);

}  // namespace da3::io
