// cv::resize for the pipeline: INTER_AREA when preprocessing shrinks an image, INTER_LINEAR and
// INTER_NEAREST when postprocessing maps a view back to its source size.
#include <opencv2/imgproc.hpp>

#include "media_plugin/opencv_media.hpp"

namespace da3::media_plugin {

bool resize(const io::PlaneRef& src, const io::PlaneRef& dst, io::Interpolation interp, std::string& error) noexcept {
  try {
    const int flag = interp == io::Interpolation::Area     ? cv::INTER_AREA
                     : interp == io::Interpolation::Linear ? cv::INTER_LINEAR
                                                           : cv::INTER_NEAREST;
    const cv::Mat s = as_mat(src);
    cv::Mat d = as_mat(dst);
    const uint8_t* const target = d.data;
    cv::resize(s, d, d.size(), 0, 0, flag);
    // resize reallocates only a destination of another size or type; the caller sized it.
    if (d.data != target) {
      error = "cv::resize did not write into the destination (mismatched types)";
      return false;
    }
    return true;
  } catch (...) {
    error = current_exception_text();
    return false;
  }
}

}  // namespace da3::media_plugin
