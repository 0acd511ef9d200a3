#pragma once
// numpy.percentile(a, q) with its default 'linear' method, reproduced to the rounding: the
// virtual index (n - 1) * (q / 100), the difference of the two neighbours in the array's own
// dtype, and numpy's _lerp (which interpolates from the nearer neighbour). The result is a
// double, as numpy returns float64. Any NaN makes the result NaN, as in numpy.
// `values` is reordered (nth_element), never resized.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace da3::pipeline {

template <class T>
double percentile_linear(std::vector<T>& values, double q) {
  const size_t n = values.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  for (const T& v : values)
    if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
  const double virtual_index = double(n - 1) * (q / 100.0);
  size_t lo = 0, hi = 0;
  double gamma = 0;
  if (virtual_index >= double(n - 1)) {
    lo = hi = n - 1;
  } else if (virtual_index > 0) {
    lo = static_cast<size_t>(std::floor(virtual_index));
    hi = lo + 1;
    gamma = virtual_index - double(lo);
  }
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lo), values.end());
  const T a = values[lo];
  T b = a;
  if (hi != lo) b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
  const T diff = static_cast<T>(b - a);  // numpy subtracts in the array's dtype
  return gamma >= 0.5 ? double(b) - double(diff) * (1.0 - gamma) : double(a) + double(diff) * gamma;
}

// numpy.median of a float64 array: the middle value, or the mean of the two middle ones.
inline double median(std::vector<double>& v) {
  const size_t n = v.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2), v.end());
  const double upper = v[n / 2];
  if (n % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2));
  return (lower + upper) / 2.0;
}

}  // namespace da3::pipeline
