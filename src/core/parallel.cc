#include "core/parallel.h"

#include <thread>

namespace berth::core {

void SetIntraOpThreads(int n) { omp_set_num_threads(n > 0 ? n : HardwareThreads()); }

int IntraOpThreads() { return omp_get_max_threads(); }

int HardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

}  // namespace berth::core
