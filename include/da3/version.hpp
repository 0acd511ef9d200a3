#pragma once
namespace da3 {

const char* version();          // "0.1.0"
const char* build_info();       // compiler, build type, CUDA on/off, oneDNN version
bool built_with_cuda();

}  // namespace da3
