#include "llm/model/forward_step.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/float16.h"
#include "llm/gguf/dequantize.h"
#include "llm/kernels/quantized_matmul.h"
#include "llm/model/ordered_sums.h"
#include "llm/model/vector_math.h"

namespace berth::llm {
namespace {

// Runs fn(begin, end) over [0, n) in `threads` contiguous chunks whose
// bounds are multiples of `align`.
template <typename Fn>
void ParallelChunks(int threads, int64_t n, int64_t align, Fn&& fn) {
  const int64_t units = (n + align - 1) / align;
  const int chunks = static_cast<int>(std::min<int64_t>(threads, units));
  if (chunks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(chunks)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t team = omp_get_num_threads();
    const int64_t begin = std::min(n, units * t / team * align);
    const int64_t end = std::min(n, units * (t + 1) / team * align);
    if (begin < end) fn(begin, end);
  }
}

// An uninitialised buffer: the forward pass writes before it reads, and
// zeroing tens of megabytes up front would cost page faults at load time
// instead of on first use.
template <typename T>
class Buffer {
 public:
  void resize(size_t n) {
    data_ = std::make_unique_for_overwrite<T[]>(n);
    size_ = n;
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](size_t i) { return data_[i]; }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<T[]> data_;
  size_t size_ = 0;
};

}  // namespace

struct ForwardStep::Scratch {
  Buffer<float> x, xn, q, k, v, attn, gate, up, proj;
  Buffer<uint8_t> activations;
  Buffer<float> scores;  // per thread: context_capacity
  Buffer<uint16_t> q16;  // per thread: head_dim
  Buffer<float> sums;    // per thread: OrderedSumWorkFloats(width, head_dim)
  Buffer<float> rope;    // per row: n_rot/2 (cos, sin) pairs
};

ForwardStep::ForwardStep(std::shared_ptr<const LanguageModel> model, int threads, KernelIsa isa, int64_t max_rows)
    : model_(std::move(model)), threads_(threads), isa_(isa), max_rows_(max_rows) {
  const ModelConfig& config = model_->config();
  auto scratch = std::make_unique<Scratch>();
  const auto rows = static_cast<size_t>(max_rows);
  scratch->x.resize(rows * config.n_embd);
  scratch->xn.resize(rows * std::max(config.n_embd, config.n_ff));
  scratch->q.resize(rows * config.q_dim());
  scratch->k.resize(rows * config.kv_dim());
  scratch->v.resize(rows * config.kv_dim());
  scratch->attn.resize(rows * config.q_dim());
  scratch->gate.resize(rows * config.n_ff);
  scratch->up.resize(rows * config.n_ff);
  scratch->proj.resize(rows * config.n_embd);
  size_t row_bytes = 0;
  const ModelWeights& w = model_->weights();
  for (const WeightMatrix* m : {&w.output}) row_bytes = std::max(row_bytes, ActivationRowBytes(m->type, m->cols));
  for (const LayerWeights& layer : w.layers) {
    for (const WeightMatrix* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.gate, &layer.up, &layer.down}) {
      row_bytes = std::max(row_bytes, ActivationRowBytes(m->type, m->cols));
    }
  }
  scratch->activations.resize(rows * row_bytes);
  scratch->q16.resize(static_cast<size_t>(threads_) * static_cast<size_t>(config.head_dim));
  scratch->sums.resize(static_cast<size_t>(threads_) *
                       static_cast<size_t>(OrderedSumWorkFloats(LlamaVectorWidth(), config.head_dim)));
  scratch->rope.resize(rows * static_cast<size_t>(config.n_rot));
  scratch_ = std::move(scratch);
  rows_.reserve(rows);
}

ForwardStep::~ForwardStep() = default;

void ForwardStep::ReserveContext(int64_t context_size) {
  if (context_size <= context_capacity_) return;
  scratch_->scores.resize(static_cast<size_t>(threads_) * static_cast<size_t>(context_size));
  context_capacity_ = context_size;
}

void ForwardStep::Convert(GgmlType type, const float* x, int64_t cols, int64_t n) {
  const size_t row_bytes = ActivationRowBytes(type, cols);
  uint8_t* out = scratch_->activations.data();
  ParallelChunks(threads_, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) ConvertActivations(isa_, type, x + t * cols, cols, out + t * row_bytes);
  });
}

void ForwardStep::Multiply(const WeightMatrix& m, int64_t n, float* y) {
  const uint8_t* activations = scratch_->activations.data();
  const bool alone = kind_ == StepKind::kEachRowAlone;
  ParallelChunks(threads_, m.rows, 32, [&](int64_t begin, int64_t end) {
    if (alone) {
      MatMulDecodeBatch(isa_, m.type, m.data, m.cols, begin, end, activations, n, y, m.rows);
    } else {
      MatMul(isa_, m.type, m.data, m.cols, begin, end, activations, n, y, m.rows);
    }
  });
}

void ForwardStep::NormAndMultiply(const float* norm,
                                  std::initializer_list<std::pair<const WeightMatrix*, float*>> products, int64_t n) {
  const ModelConfig& c = model_->config();
  Scratch& s = *scratch_;
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(s.x.data() + t * c.n_embd, norm, c.rms_eps, c.n_embd, s.xn.data() + t * c.n_embd);
  }
  // The products share their input: convert it again only when the type changes.
  const WeightMatrix* converted = nullptr;
  for (const auto& [matrix, y] : products) {
    if (!converted || converted->type != matrix->type) Convert(matrix->type, s.xn.data(), c.n_embd, n);
    converted = matrix;
    Multiply(*matrix, n, y);
  }
}

void ForwardStep::Embed(const int32_t* tokens, int64_t n) {
  const ModelConfig& c = model_->config();
  const ModelWeights& w = model_->weights();
  Scratch& s = *scratch_;
  for (int64_t t = 0; t < n; ++t) {
    core::Status status =
        Dequantize(w.token_embd.type, w.token_embd.row(tokens[t]), c.n_embd, s.x.data() + t * c.n_embd);
    (void)status;  // the type was checked at load
  }
  // RoPE's cos/sin for each row: theta_i = p * theta_scale^i, built by
  // repeated multiplication in float as ggml does.
  const int64_t half_rot = c.n_rot / 2;
  const float theta_scale = std::pow(c.rope_freq_base, -2.0f / static_cast<float>(c.n_rot));
  for (int64_t t = 0; t < n; ++t) {
    float theta = static_cast<float>(rows_[static_cast<size_t>(t)].position);
    float* pair = s.rope.data() + t * c.n_rot;
    for (int64_t i = 0; i < half_rot; ++i) {
      const float factor = w.rope_freqs ? w.rope_freqs[i] : 1.0f;
      const float angle = c.rope_freq_scale * (theta / factor);
      pair[2 * i] = std::cos(angle);
      pair[2 * i + 1] = std::sin(angle);
      theta *= theta_scale;
    }
  }
}

void ForwardStep::Rope(float* head, int64_t t) const {
  const ModelConfig& c = model_->config();
  const float* pair = scratch_->rope.data() + t * c.n_rot;
  const bool neox = c.arch->rope_order == RopeOrder::kNeox;
  const int64_t half_rot = c.n_rot / 2, stride = neox ? half_rot : 1;
  for (int64_t i = 0; i < half_rot; ++i) {
    const int64_t a = neox ? i : 2 * i;
    // llama.cpp's builds for FMA CPUs contract these two expressions: the
    // first product fused with the rounded second.
    const float x0 = head[a], x1 = head[a + stride];
    head[a] = std::fma(x0, pair[2 * i], -(x1 * pair[2 * i + 1]));
    head[a + stride] = std::fma(x0, pair[2 * i + 1], x1 * pair[2 * i]);
  }
}

void ForwardStep::QueryKeyValue(int64_t l, int64_t n) {
  const ModelConfig& c = model_->config();
  const LayerWeights& layer = model_->weights().layers[static_cast<size_t>(l)];
  Scratch& s = *scratch_;
  const int64_t head_dim = c.head_dim, kv_dim = c.kv_dim(), q_dim = c.q_dim();
  const bool fast = isa_ != KernelIsa::kScalar;
  NormAndMultiply(layer.attn_norm, {{&layer.wq, s.q.data()}, {&layer.wk, s.k.data()}, {&layer.wv, s.v.data()}}, n);

  for (int64_t t = 0; t < n; ++t) {
    float* q = s.q.data() + t * q_dim;
    float* k = s.k.data() + t * kv_dim;
    float* v = s.v.data() + t * kv_dim;
    if (layer.bq) {
      for (int64_t i = 0; i < q_dim; ++i) q[i] += layer.bq[i];
      for (int64_t i = 0; i < kv_dim; ++i) k[i] += layer.bk[i];
      for (int64_t i = 0; i < kv_dim; ++i) v[i] += layer.bv[i];
    }
    for (int64_t h = 0; h < c.n_head; ++h) {
      if (layer.q_norm) RmsNorm(q + h * head_dim, layer.q_norm, c.rms_eps, head_dim, q + h * head_dim);
      Rope(q + h * head_dim, t);
    }
    for (int64_t h = 0; h < c.n_head_kv; ++h) {
      if (layer.k_norm) RmsNorm(k + h * head_dim, layer.k_norm, c.rms_eps, head_dim, k + h * head_dim);
      Rope(k + h * head_dim, t);
    }
    // Into the row's cache: [layer][kv head][position][head_dim].
    const RowPlace& place = rows_[static_cast<size_t>(t)];
    KvCache& cache = *place.sequence->cache;
    for (int64_t h = 0; h < c.n_head_kv; ++h) {
      const uint64_t at = cache.Offset(l, h, place.position);
      if (cache.type() == KvCacheType::kF16) {
        ToF16(fast, k + h * head_dim, cache.keys16() + at, head_dim);
        ToF16(fast, v + h * head_dim, cache.values16() + at, head_dim);
      } else {
        std::copy(k + h * head_dim, k + (h + 1) * head_dim, cache.keys32() + at);
        std::copy(v + h * head_dim, v + (h + 1) * head_dim, cache.values32() + at);
      }
    }
  }
}

void ForwardStep::Attention(int64_t l, int64_t n) {
  const ModelConfig& c = model_->config();
  Scratch& s = *scratch_;
  const bool fast = isa_ != KernelIsa::kScalar;
  const int64_t head_dim = c.head_dim, q_dim = c.q_dim(), group = c.n_head_per_kv();
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t pairs = n * c.n_head;
  const int64_t width = LlamaVectorWidth();
  const auto work_floats = static_cast<size_t>(OrderedSumWorkFloats(width, head_dim));
  // One (row, head) pair per iteration.
#pragma omp parallel for num_threads(std::max <int64_t>(1, std::min <int64_t>(threads_, pairs))) schedule(dynamic, 1)
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const int64_t t = pair / c.n_head, h = pair % c.n_head;
    const RowPlace& place = rows_[static_cast<size_t>(t)];
    const SequenceRows& sequence = *place.sequence;
    const KvCache& cache = *sequence.cache;
    const int thread = omp_get_thread_num();
    float* scores = s.scores.data() + static_cast<size_t>(thread) * static_cast<size_t>(context_capacity_);
    const float* q = s.q.data() + t * q_dim + h * head_dim;
    float* out = s.attn.data() + t * q_dim + h * head_dim;
    const int64_t visible = place.position + 1;
    const uint64_t base = cache.Offset(l, h / group, 0);
    if (cache.type() == KvCacheType::kF16) {
      // With an F16 cache, q.k and the value mixture are summed in
      // llama.cpp's order (ordered_sums.h) for the sequence's rows in this
      // step: its cache length is the positions in use rounded up to 256,
      // and its rows take the one-token or the tiled path.
      const int64_t cache_length = (sequence.position + sequence.rows + 255) / 256 * 256;
      const SumOrder score_order = AttentionSumOrder(width, sequence.rows, head_dim);
      const SumOrder mix_order = AttentionSumOrder(width, sequence.rows, cache_length);
      uint16_t* q16 = s.q16.data() + static_cast<size_t>(thread) * static_cast<size_t>(head_dim);
      ToF16(fast, q, q16, head_dim);
      OrderedDotsF16(fast, width, score_order, q16, cache.keys16() + base, head_dim, visible, head_dim, scores);
      ScaledSoftmax(fast, scores, visible, scale);
      RoundToF16(fast, scores, visible);
      OrderedWeightedSumF16(fast, width, mix_order, scores, cache.values16() + base, head_dim, visible, head_dim, out,
                            s.sums.data() + static_cast<size_t>(thread) * work_floats);
    } else {
      const float* keys = cache.keys32() + base;
      const float* values = cache.values32() + base;
      std::fill(out, out + head_dim, 0.0f);
      for (int64_t j = 0; j < visible; ++j) scores[j] = DotF32(fast, q, keys + j * head_dim, head_dim);
      ScaledSoftmax(fast, scores, visible, scale);
      for (int64_t j = 0; j < visible; ++j) AxpyF32(fast, scores[j], values + j * head_dim, out, head_dim);
    }
  }
}

void ForwardStep::FeedForward(int64_t l, int64_t n) {
  const ModelConfig& c = model_->config();
  const LayerWeights& layer = model_->weights().layers[static_cast<size_t>(l)];
  Scratch& s = *scratch_;
  const int64_t embd = c.n_embd;
  const bool fast = isa_ != KernelIsa::kScalar;
  NormAndMultiply(layer.ffn_norm, {{&layer.gate, s.gate.data()}, {&layer.up, s.up.data()}}, n);
  if (kind_ == StepKind::kEachRowAlone) {
    // Row by row: where n_ff is not a multiple of the vector width, SwiGLU
    // takes the last values of its span another way.
    for (int64_t t = 0; t < n; ++t) SwiGlu(fast, s.gate.data() + t * c.n_ff, s.up.data() + t * c.n_ff, c.n_ff);
  } else {
    SwiGlu(fast, s.gate.data(), s.up.data(), n * c.n_ff);
  }
  Convert(layer.down.type, s.gate.data(), c.n_ff, n);
  Multiply(layer.down, n, s.proj.data());
  for (int64_t i = 0; i < n * embd; ++i) s.x[i] += s.proj[i];
}

void ForwardStep::Run(std::span<const SequenceRows> sequences, const int32_t* tokens, StepKind kind,
                      int64_t first_logits_row, float* logits, bool hidden) {
  const ModelConfig& c = model_->config();
  const ModelWeights& w = model_->weights();
  Scratch& s = *scratch_;
  const int64_t embd = c.n_embd;
  kind_ = kind;
  rows_.clear();
  for (const SequenceRows& sequence : sequences) {
    for (int64_t i = 0; i < sequence.rows; ++i) rows_.push_back({&sequence, sequence.position + i});
  }
  const auto n = static_cast<int64_t>(rows_.size());
  Embed(tokens, n);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    QueryKeyValue(l, n);
    Attention(l, n);
    const WeightMatrix& wo = w.layers[static_cast<size_t>(l)].wo;
    Convert(wo.type, s.attn.data(), wo.cols, n);
    Multiply(wo, n, s.proj.data());
    for (int64_t i = 0; i < n * embd; ++i) s.x[i] += s.proj[i];
    FeedForward(l, n);
  }
  if (!logits) return;
  // Only the rows asked for go through the output matrix.
  const int64_t first = first_logits_row;
  float* normed = hidden ? logits : s.xn.data();
  for (int64_t t = first; t < n; ++t) {
    RmsNorm(s.x.data() + t * embd, w.output_norm, c.rms_eps, embd, normed + (t - first) * embd);
  }
  if (hidden) return;
  Convert(w.output.type, s.xn.data(), embd, n - first);
  Multiply(w.output, n - first, logits);
}

}  // namespace berth::llm
