// Intra-op parallelism. berth's own kernels and oneDNN share one OpenMP
// runtime; the thread count is a per-calling-thread setting so that two model
// instances running on two server threads each get their own team.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace berth::core {

// Sets the intra-op thread count for work started from the calling thread
// (oneDNN reads the same setting). n <= 0 means "all cores".
void SetIntraOpThreads(int n);
int IntraOpThreads();
int HardwareThreads();

// Runs fn(begin, end) over [0, n) split into contiguous chunks, in parallel
// when n is at least 2 * grain. fn must not throw.
template <typename Fn>
void ParallelFor(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  int threads = IntraOpThreads();
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int chunks = static_cast<int>(std::min<int64_t>(threads, max_chunks));
  if (chunks <= 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(chunks)
  {
    int t = omp_get_thread_num();
    int team = omp_get_num_threads();
    int64_t begin = n * t / team;
    int64_t end = n * (t + 1) / team;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace berth::core
