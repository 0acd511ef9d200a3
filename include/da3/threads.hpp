#pragma once
// The one place that sets how many threads da3 uses: OpenMP (our kernels) and oneDNN (which
// runs on the same OpenMP runtime). Default: env DA3_NUM_THREADS, else all online cores.
namespace da3 {

// The most threads da3 will run: far above any machine's cores, and low enough that the OpenMP
// runtime can start them (-t 100000 crashed libgomp, -t 20000 hung). Both -t / ModelOptions and
// DA3_NUM_THREADS are bounded by it.
constexpr int kMaxThreads = 1024;

// n <= 0 means "default"; n > kMaxThreads throws da3::Error.
void set_num_threads(int n);
int num_threads();

}  // namespace da3
