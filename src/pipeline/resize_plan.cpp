#include "pipeline/resize_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "da3/error.hpp"

namespace da3 {

ResizeMethod parse_resize_method(const std::string& name) {
  for (ResizeMethod m : {ResizeMethod::UpperBoundResize, ResizeMethod::LowerBoundResize, ResizeMethod::UpperBoundCrop,
                         ResizeMethod::LowerBoundCrop})
    if (name == resize_method_name(m)) return m;
  throw Error("unknown resize method '" + name +
              "' (known: upper_bound_resize, lower_bound_resize, upper_bound_crop, lower_bound_crop)");
}

const char* resize_method_name(ResizeMethod m) {
  switch (m) {
    case ResizeMethod::UpperBoundResize: return "upper_bound_resize";
    case ResizeMethod::LowerBoundResize: return "lower_bound_resize";
    case ResizeMethod::UpperBoundCrop: return "upper_bound_crop";
    case ResizeMethod::LowerBoundCrop: return "lower_bound_crop";
  }
  return "?";
}

namespace pipeline {

namespace {

// Python's round() on a double: halves go to the even neighbour (the default FP rounding mode).
int py_round(double x) { return static_cast<int>(std::nearbyint(x)); }

int nearest_multiple(int x, int p) {
  const int down = (x / p) * p, up = down + p;
  return std::abs(up - x) <= std::abs(x - down) ? up : down;
}

}  // namespace

ResizePlan plan_resize(int w, int h, int process_res, ResizeMethod method) {
  DA3_CHECK(w > 0 && h > 0, "plan_resize: image size must be positive");
  DA3_CHECK(process_res >= kPatchSize && process_res <= kMaxProcessRes,
            "process_res must be at least " + std::to_string(kPatchSize) + " and at most " + std::to_string(kMaxProcessRes) +
                " (the model was trained at 504), got " + std::to_string(process_res));
  ResizePlan plan;
  // Boundary resize (_resize_longest_side / _resize_shortest_side).
  const bool upper = method == ResizeMethod::UpperBoundResize || method == ResizeMethod::UpperBoundCrop;
  const int side = upper ? std::max(w, h) : std::min(w, h);
  if (side != process_res) {
    const double scale = process_res / double(side);
    plan.boundary = {true, std::max(1, py_round(w * scale)), std::max(1, py_round(h * scale)), scale > 1.0};
    w = plan.boundary.width;
    h = plan.boundary.height;
  }
  const bool by_resize = method == ResizeMethod::UpperBoundResize || method == ResizeMethod::LowerBoundResize;
  if (by_resize) {  // _make_divisible_by_resize
    const int nw = std::max(1, nearest_multiple(w, kPatchSize)), nh = std::max(1, nearest_multiple(h, kPatchSize));
    if (nw != w || nh != h) plan.divisible = {true, nw, nh, nw > w || nh > h};
    plan.size = {nw, nh, 0, 0, nw, nh};
  } else {  // _make_divisible_by_crop
    const int nw = (w / kPatchSize) * kPatchSize, nh = (h / kPatchSize) * kPatchSize;
    plan.crop_x = (w - nw) / 2;
    plan.crop_y = (h - nh) / 2;
    plan.crop_w = nw;
    plan.crop_h = nh;
    plan.size = {w, h, plan.crop_x, plan.crop_y, nw, nh};
  }
  return plan;
}

}  // namespace pipeline

ProcessedSize processed_size(int width, int height, int process_res, ResizeMethod method) {
  return pipeline::plan_resize(width, height, process_res, method).size;
}

}  // namespace da3
