#pragma once
// The pipeline's cv::resize calls, run by the media plugin (io/media.hpp), which is loaded on
// the first one. Failures throw da3::Error.
#include "io/image_buffer.hpp"
#include "io/media_plugin.hpp"

namespace da3::pipeline {

// cv::INTER_AREA, as the reference shrinks images.
io::ImageBuffer resize_area(const io::ImageView& src, int width, int height);

// cv::resize from `src` into all of `dst` (which may be a rectangle inside a larger image).
void resize_into(const io::PlaneRef& src, const io::PlaneRef& dst, io::Interpolation interp);

}  // namespace da3::pipeline
