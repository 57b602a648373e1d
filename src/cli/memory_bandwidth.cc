#include "cli/memory_bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_features.h"

namespace berth::cli {
namespace {

constexpr size_t kBytes = size_t{1} << 30;

uint64_t SumPlain(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  return a + b + c + d;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t SumAvx2(const uint64_t* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

}  // namespace

double MeasureReadBandwidth(int threads) {
  threads = std::max(1, threads);
  const size_t words = kBytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[], void (*)(void*)> buffer(static_cast<uint64_t*>(std::aligned_alloc(64, kBytes)),
                                                      std::free);
  if (!buffer) return 0;
  const bool avx2 = core::DetectCpuFeatures().avx2;
  volatile uint64_t sink = 0;
  double best = 0;
  for (int pass = 0; pass < 4; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num()), team = static_cast<size_t>(omp_get_num_threads());
      const size_t begin = words / team * t / 16 * 16, end = t + 1 == team ? words : words / team * (t + 1) / 16 * 16;
      if (pass == 0) {
        std::memset(buffer.get() + begin, static_cast<int>(t + 1), (end - begin) * sizeof(uint64_t));
      }
#if defined(__x86_64__)
      total += avx2 ? SumAvx2(buffer.get() + begin, end - begin) : SumPlain(buffer.get() + begin, end - begin);
#else
      total += SumPlain(buffer.get() + begin, end - begin);
#endif
    }
    sink = sink + total;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (pass > 0) best = std::max(best, static_cast<double>(kBytes) / seconds / 1e9);
  }
  (void)sink;
  return best;
}

}  // namespace berth::cli
