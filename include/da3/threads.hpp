#pragma once
// The one place that sets how many threads da3 uses: OpenMP (our kernels) and oneDNN (which
// runs on the same OpenMP runtime). Default: env DA3_NUM_THREADS, else all online cores.
namespace da3 {

void set_num_threads(int n);  // n <= 0 means "default"
int num_threads();

}  // namespace da3
