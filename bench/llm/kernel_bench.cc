// llm_kernel_bench: the quantized matrix products (llm/kernels) per weight
// type and ISA, on one thread.
//
//   ReadBandwidth          a plain streaming read (sum of a 1 GiB buffer with
//                          the widest loads the CPU has): the ceiling of a
//                          matrix-vector product
//   MatVec/<type>/<isa>/<cols>   generation: one token, a weight matrix of
//                          256 MiB (far beyond L3; `cols` 2048 is Llama-3.2-1B's
//                          hidden size, 8192 its FFN size). GB/s of weights
//                          read; read_GB/s: the streaming read, interleaved
//                          with the product in 16 slices; pct_bw: the ratio
//   DecodeStep/<type>/<isa>/<tokens>   a decode step of several sequences
//                          (MatMulDecodeBatch) over the MatVec weights at
//                          2048 columns: GB/s of weights, token_GB/s that
//                          times the tokens
//   Prompt/<type>/<isa>    prompt processing: 512 tokens x 1024 rows x 2048
//                          columns (64 rows for the scalar path), GFLOP/s
//                          counting a multiply-add as 2
//
// Absolute figures move on a shared machine; compare rows of one run.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/float16.h"
#include "llm/kernels/kernel_isa.h"
#include "llm/kernels/quantized_matmul.h"

namespace berth::llm {
namespace {

constexpr size_t kMatVecBytes = size_t{256} << 20;
constexpr size_t kBandwidthBytes = size_t{1} << 30;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

Buffer Allocate(size_t bytes) {
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  return Buffer(p);
}

__attribute__((target("avx512f"))) float SumAvx512(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  float out[16];
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  float sum = 0;
  for (float v : out) sum += v;
  return sum;
}

__attribute__((target("avx2"))) float SumAvx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

float SumBuffer(const float* p, size_t n) {
  static const core::CpuFeatures features = core::DetectCpuFeatures();
  if (features.avx512f) return SumAvx512(p, n);
  if (features.avx2) return SumAvx2(p, n);
  float sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}

const Buffer& BandwidthBuffer() {
  static const Buffer buffer = [] {
    Buffer b = Allocate(kBandwidthBytes);
    std::memset(b.get(), 0x3c, kBandwidthBytes);
    return b;
  }();
  return buffer;
}

void ReadBandwidth(benchmark::State& state) {
  const auto* p = reinterpret_cast<const float*>(BandwidthBuffer().get());
  for (auto _ : state) benchmark::DoNotOptimize(SumBuffer(p, kBandwidthBytes / 4));
  state.counters["GB/s"] = benchmark::Counter(kBandwidthBytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Weights of `type` whose values are ordinary numbers (block scales of
// about 1/64, quants random): the speed must not depend on denormals.
void FillWeights(GgmlType type, uint8_t* w, size_t bytes) {
  std::mt19937 rng(42);
  std::vector<uint8_t> pattern(1 << 16);
  for (auto& b : pattern) b = static_cast<uint8_t>(rng());
  for (size_t i = 0; i < bytes; i += pattern.size()) {
    std::memcpy(w + i, pattern.data(), std::min(pattern.size(), bytes - i));
  }
  const uint16_t half_scale = core::Float16::FromFloat(1.0f / 64);
  auto put_scale = [&](size_t block_bytes, size_t offset) {
    for (size_t b = 0; b + block_bytes <= bytes; b += block_bytes) std::memcpy(w + b + offset, &half_scale, 2);
  };
  switch (type) {
    case GgmlType::kF32:
      for (size_t i = 0; i + 4 <= bytes; i += 4) {
        const float v = static_cast<float>(static_cast<int8_t>(w[i])) / 64;
        std::memcpy(w + i, &v, 4);
      }
      break;
    case GgmlType::kF16:
    case GgmlType::kBF16:
      for (size_t i = 0; i + 2 <= bytes; i += 2) {
        const float v = static_cast<float>(static_cast<int8_t>(w[i])) / 64;
        const uint16_t h = type == GgmlType::kF16 ? core::Float16::FromFloat(v) : core::BFloat16::FromFloat(v);
        std::memcpy(w + i, &h, 2);
      }
      break;
    case GgmlType::kQ8_0:
      put_scale(34, 0);
      break;
    case GgmlType::kQ4_0:
      put_scale(18, 0);
      break;
    case GgmlType::kQ5_0:
      put_scale(22, 0);
      break;
    case GgmlType::kQ4_1:
      put_scale(20, 0);
      put_scale(20, 2);
      break;
    case GgmlType::kQ5_1:
      put_scale(24, 0);
      put_scale(24, 2);
      break;
    case GgmlType::kQ4_K:
      put_scale(144, 0);
      put_scale(144, 2);
      break;
    case GgmlType::kQ5_K:
      put_scale(176, 0);
      put_scale(176, 2);
      break;
    case GgmlType::kQ6_K:
      put_scale(210, 208);
      break;
    default:
      break;
  }
}

std::vector<uint8_t> Activations(GgmlType type, int64_t cols, int64_t n_tokens) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> x(static_cast<size_t>(cols));
  const size_t row = ActivationRowBytes(type, cols);
  std::vector<uint8_t> out(row * n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (auto& v : x) v = normal(rng);
    ConvertActivations(KernelIsa::kScalar, type, x.data(), cols, out.data() + t * row);
  }
  return out;
}

// The MatVec weights of the last (type, cols), kept while the ISAs take turns.
struct MatVecWeights {
  GgmlType type = GgmlType::kF32;
  int64_t cols = 0, rows = 0;
  Buffer data;
};

const MatVecWeights& WeightsFor(GgmlType type, int64_t cols) {
  static MatVecWeights weights;
  if (weights.data == nullptr || weights.type != type || weights.cols != cols) {
    weights.data.reset();
    weights.type = type;
    weights.cols = cols;
    weights.rows = static_cast<int64_t>(kMatVecBytes / RowBytes(type, cols));
    const size_t bytes = weights.rows * RowBytes(type, cols);
    weights.data = Allocate(bytes);
    FillWeights(type, weights.data.get(), bytes);
  }
  return weights;
}

// Each iteration runs the product in 16 slices of rows, each followed by a
// streaming read of as many bytes of another buffer, timed apart: on a
// shared machine both see the same contention at the scale of a millisecond,
// so their ratio (pct_bw) holds when the absolute figures move.
void MatVec(benchmark::State& state, GgmlType type, KernelIsa isa, int64_t cols) {
  const MatVecWeights& w = WeightsFor(type, cols);
  const std::vector<uint8_t> act = Activations(type, cols, 1);
  std::vector<float> y(static_cast<size_t>(w.rows));
  const size_t row_bytes = RowBytes(type, cols);
  const auto* stream = reinterpret_cast<const float*>(BandwidthBuffer().get());
  constexpr int kSlices = 16;
  const int64_t slice_rows = w.rows / kSlices;
  const size_t slice_floats = slice_rows * row_bytes / 4 / 64 * 64;
  double product_seconds = 0, read_seconds = 0;
  for (auto _ : state) {
    for (int s = 0; s < kSlices; ++s) {
      auto start = std::chrono::steady_clock::now();
      MatMul(isa, type, w.data.get(), cols, s * slice_rows, (s + 1) * slice_rows, act.data(), 1, y.data(), w.rows);
      benchmark::ClobberMemory();
      auto end = std::chrono::steady_clock::now();
      product_seconds += std::chrono::duration<double>(end - start).count();
      benchmark::DoNotOptimize(SumBuffer(stream + s * slice_floats, slice_floats));
      read_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - end).count();
    }
  }
  const double bytes = static_cast<double>(kSlices * slice_rows) * row_bytes * state.iterations();
  const double read_bytes = static_cast<double>(kSlices * slice_floats) * 4 * state.iterations();
  state.counters["GB/s"] = bytes / product_seconds / 1e9;
  state.counters["read_GB/s"] = read_bytes / read_seconds / 1e9;
  state.counters["pct_bw"] = 100 * (bytes / product_seconds) / (read_bytes / read_seconds);
}

// One decode step of `n_tokens` sequences (MatMulDecodeBatch) over the
// MatVec weights: GB/s of weights read, and token_GB/s, that times the
// tokens (what a matrix-vector product per sequence would have to stream).
void DecodeStep(benchmark::State& state, GgmlType type, KernelIsa isa, int64_t n_tokens) {
  constexpr int64_t kCols = 2048;
  const MatVecWeights& w = WeightsFor(type, kCols);
  const std::vector<uint8_t> act = Activations(type, kCols, n_tokens);
  std::vector<float> y(static_cast<size_t>(w.rows * n_tokens));
  for (auto _ : state) {
    MatMulDecodeBatch(isa, type, w.data.get(), kCols, 0, w.rows, act.data(), n_tokens, y.data(), w.rows);
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(w.rows) * RowBytes(type, kCols);
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["token_GB/s"] =
      benchmark::Counter(bytes * n_tokens * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void Prompt(benchmark::State& state, GgmlType type, KernelIsa isa) {
  const int64_t cols = 2048, n_tokens = 512, rows = isa == KernelIsa::kScalar ? 64 : 1024;
  const size_t bytes = rows * RowBytes(type, cols);
  Buffer w = Allocate(bytes);
  FillWeights(type, w.get(), bytes);
  const std::vector<uint8_t> act = Activations(type, cols, n_tokens);
  std::vector<float> y(static_cast<size_t>(rows * n_tokens));
  for (auto _ : state) {
    MatMul(isa, type, w.get(), cols, 0, rows, act.data(), n_tokens, y.data(), rows);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * rows * cols * n_tokens * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

std::string TypeName(GgmlType type) { return std::string(TraitsOf(static_cast<uint32_t>(type))->name); }

void Register() {
  benchmark::RegisterBenchmark("ReadBandwidth", ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();
  constexpr GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ8_0, GgmlType::kF16,
                                 GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kBF16, GgmlType::kF32,
                                 GgmlType::kQ5_0, GgmlType::kQ4_1, GgmlType::kQ5_1};
  const std::vector<KernelIsa> isas = AvailableKernelIsas();
  for (int64_t cols : {2048, 8192}) {
    for (GgmlType type : kTypes) {
      for (KernelIsa isa : isas) {
        const std::string name =
            "MatVec/" + TypeName(type) + "/" + std::string(KernelIsaName(isa)) + "/" + std::to_string(cols);
        benchmark::RegisterBenchmark(name.c_str(), MatVec, type, isa, cols)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  for (GgmlType type : kTypes) {
    for (KernelIsa isa : isas) {
      if (isa == KernelIsa::kScalar) continue;
      for (int64_t tokens : {1, 2, 4, 8, 16}) {
        const std::string name =
            "DecodeStep/" + TypeName(type) + "/" + std::string(KernelIsaName(isa)) + "/" + std::to_string(tokens);
        benchmark::RegisterBenchmark(name.c_str(), DecodeStep, type, isa, tokens)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  for (GgmlType type : kTypes) {
    for (KernelIsa isa : isas) {
      const std::string name = "Prompt/" + TypeName(type) + "/" + std::string(KernelIsaName(isa));
      auto* bench = benchmark::RegisterBenchmark(name.c_str(), Prompt, type, isa)->Unit(benchmark::kMillisecond);
      if (isa == KernelIsa::kScalar) bench->Iterations(1);
    }
  }
}

}  // namespace
}  // namespace berth::llm

int main(int argc, char** argv) {
  berth::llm::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
