#pragma once
// An ordered image sequence for `da3 infer --stream`: the inputs in the order given, the images
// of each directory or glob in natural order (frame_2 before frame_10), which is how cameras
// and video exporters number frames.
#include <string>
#include <vector>

namespace da3::stream {

// Digit runs compare by value (leading zeros ignored; the shorter run first when equal), the
// rest byte by byte; ties are broken by plain comparison so the order is total.
bool natural_less(const std::string& a, const std::string& b);

// collect_image_paths() per input, each directory's or pattern's images naturally sorted.
std::vector<std::string> collect_image_sequence(const std::vector<std::string>& inputs);

}  // namespace da3::stream
