# Debian ships OpenCV's CMake package only with the full libopencv-dev meta package; we install
# just the component packages we use, so locate their headers and libraries directly.
find_path(DA3_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
set(DA3_OPENCV_LIBS "")
foreach(comp core imgproc imgcodecs videoio)
  find_library(DA3_OPENCV_${comp}_LIB opencv_${comp} REQUIRED)
  list(APPEND DA3_OPENCV_LIBS ${DA3_OPENCV_${comp}_LIB})
endforeach()
add_library(da3_opencv INTERFACE)
target_include_directories(da3_opencv SYSTEM INTERFACE ${DA3_OPENCV_INCLUDE_DIR})
target_link_libraries(da3_opencv INTERFACE ${DA3_OPENCV_LIBS})
message(STATUS "da3: OpenCV headers in ${DA3_OPENCV_INCLUDE_DIR}")
