#pragma once
// Small text helpers shared by the parsers of option and environment values.
#include <string>
#include <string_view>

namespace da3::detail {

// `s` without leading / trailing white space, in lower case (ASCII): how names given by users
// (DA3_ATTENTION_BACKEND, DA3_CUDA_FLASH_KERNEL, ...) are compared.
std::string lower_trimmed(std::string_view s);

}  // namespace da3::detail
