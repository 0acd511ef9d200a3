#include "media_plugin/opencv_media.hpp"

namespace da3::media_plugin {

cv::Mat as_mat(const io::PlaneRef& p) {
  const int depth = p.type == io::PixelType::U8 ? CV_8U : p.type == io::PixelType::U16 ? CV_16U : CV_32F;
  return cv::Mat(p.height, p.width, CV_MAKETYPE(depth, p.channels), p.data, p.row_bytes);
}

}  // namespace da3::media_plugin
