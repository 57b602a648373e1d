#include "llm/model/model_context.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/float16.h"
#include "core/parallel.h"
#include "llm/gguf/dequantize.h"
#include "llm/kernels/quantized_matmul.h"
#include "llm/model/ordered_sums.h"
#include "llm/model/vector_math.h"

namespace berth::llm {
namespace {

// The largest context CreateContext picks by itself: models advertise up to
// 128k tokens, whose cache a user should ask for explicitly.
constexpr int64_t kDefaultContextCap = 4096;

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

}  // namespace

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

struct ModelContext::Scratch {
  Buffer<float> x, xn, q, k, v, attn, gate, up, proj;
  Buffer<uint8_t> activations;
  Buffer<float> scores;  // per thread: context_size
  Buffer<uint16_t> q16;  // per thread: head_dim
  Buffer<float> sums;    // per thread: OrderedSumWorkFloats(width, head_dim)
  Buffer<float> rope;    // per token: n_rot/2 (cos, sin) pairs
};

ModelContext::~ModelContext() = default;

core::Result<std::unique_ptr<ModelContext>> ModelContext::Create(std::shared_ptr<const LanguageModel> model,
                                                                 const ContextOptions& options) {
  const ModelConfig& config = model->config();
  std::unique_ptr<ModelContext> context(new ModelContext());
  int64_t size = options.context_size;
  if (size < 0) return core::InvalidArgument("context size {} is negative", size);
  if (size == 0) size = std::min(config.context_length, kDefaultContextCap);
  if (size > (int64_t{1} << 24)) return core::InvalidArgument("context size {} is above 16M tokens", size);
  if (options.batch_size <= 0 || options.batch_size > 8192) {
    return core::InvalidArgument("batch size {} is outside [1, 8192]", options.batch_size);
  }
  if (options.threads < 0 || options.threads > 1024) {
    return core::InvalidArgument("thread count {} is outside [0, 1024]", options.threads);
  }
  ASSIGN_OR_RETURN(context->isa_, SelectKernelIsa());
  context->model_ = std::move(model);
  context->context_size_ = size;
  context->batch_size_ = std::min(options.batch_size, size);
  context->threads_ = options.threads > 0 ? options.threads : core::HardwareThreads();
  context->kv_type_ = options.kv_type;

  const uint64_t cache_values =
      static_cast<uint64_t>(config.n_layer) * static_cast<uint64_t>(config.kv_dim()) * static_cast<uint64_t>(size);
  // Only positions below position() are ever read: no zeroing, so that the
  // pages of a large cache are touched as the sequence grows.
  if (options.kv_type == KvCacheType::kF16) {
    context->k16_ = std::make_unique_for_overwrite<uint16_t[]>(cache_values);
    context->v16_ = std::make_unique_for_overwrite<uint16_t[]>(cache_values);
  } else {
    context->k32_ = std::make_unique_for_overwrite<float[]>(cache_values);
    context->v32_ = std::make_unique_for_overwrite<float[]>(cache_values);
  }
  context->cache_values_ = cache_values;

  auto scratch = std::make_unique<Scratch>();
  // Scratch for one forward step of at most batch_size tokens (never more
  // than the context holds).
  const auto batch = static_cast<size_t>(std::min(options.batch_size, size));
  scratch->x.resize(batch * config.n_embd);
  scratch->xn.resize(batch * std::max(config.n_embd, config.n_ff));
  scratch->q.resize(batch * config.q_dim());
  scratch->k.resize(batch * config.kv_dim());
  scratch->v.resize(batch * config.kv_dim());
  scratch->attn.resize(batch * config.q_dim());
  scratch->gate.resize(batch * config.n_ff);
  scratch->up.resize(batch * config.n_ff);
  scratch->proj.resize(batch * config.n_embd);
  size_t row_bytes = 0;
  const ModelWeights& w = context->model_->weights();
  for (const WeightMatrix* m : {&w.output}) row_bytes = std::max(row_bytes, ActivationRowBytes(m->type, m->cols));
  for (const LayerWeights& layer : w.layers) {
    for (const WeightMatrix* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.gate, &layer.up, &layer.down}) {
      row_bytes = std::max(row_bytes, ActivationRowBytes(m->type, m->cols));
    }
  }
  scratch->activations.resize(batch * row_bytes);
  scratch->scores.resize(static_cast<size_t>(context->threads_) * static_cast<size_t>(size));
  scratch->q16.resize(static_cast<size_t>(context->threads_) * static_cast<size_t>(config.head_dim));
  scratch->sums.resize(static_cast<size_t>(context->threads_) *
                       static_cast<size_t>(OrderedSumWorkFloats(LlamaVectorWidth(), config.head_dim)));
  scratch->rope.resize(batch * static_cast<size_t>(config.n_rot));
  context->scratch_ = std::move(scratch);
  return context;
}

uint64_t ModelContext::kv_cache_bytes() const {
  return 2 * cache_values_ * (kv_type_ == KvCacheType::kF16 ? sizeof(uint16_t) : sizeof(float));
}

void ModelContext::Truncate(int64_t n) { position_ = std::clamp<int64_t>(n, 0, position_); }

core::Status ModelContext::Evaluate(std::span<const int32_t> tokens, LogitsWanted wanted, std::vector<float>* logits) {
  const ModelConfig& config = model_->config();
  const auto n = static_cast<int64_t>(tokens.size());
  for (int32_t token : tokens) {
    if (token < 0 || token >= config.n_vocab) {
      return core::InvalidArgument("token id {} is outside the vocabulary [0, {})", token, config.n_vocab);
    }
  }
  if (n > context_size_ - position_) {
    return core::ResourceExhausted("{} tokens do not fit the context: {} of {} positions are in use", n, position_,
                                   context_size_);
  }
  if (logits) {
    const int64_t rows = wanted == LogitsWanted::kAll ? n : (wanted == LogitsWanted::kLast && n > 0 ? 1 : 0);
    logits->resize(static_cast<size_t>(rows * config.n_vocab));
  }
  for (int64_t begin = 0; begin < n; begin += batch_size_) {
    const int64_t count = std::min(batch_size_, n - begin);
    float* out = nullptr;
    bool all = false;
    if (logits && wanted == LogitsWanted::kAll) {
      out = logits->data() + begin * config.n_vocab;
      all = true;
    } else if (logits && wanted == LogitsWanted::kLast && begin + count == n) {
      out = logits->data();
    }
    Forward(tokens.data() + begin, count, all, out);
  }
  return core::Status::Ok();
}

void ModelContext::Convert(GgmlType type, const float* x, int64_t cols, int64_t n) {
  const size_t row_bytes = ActivationRowBytes(type, cols);
  uint8_t* out = scratch_->activations.data();
  ParallelChunks(threads_, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) ConvertActivations(isa_, type, x + t * cols, cols, out + t * row_bytes);
  });
}

void ModelContext::Multiply(const WeightMatrix& m, int64_t n, float* y) {
  const uint8_t* activations = scratch_->activations.data();
  ParallelChunks(threads_, m.rows, 32, [&](int64_t begin, int64_t end) {
    MatMul(isa_, m.type, m.data, m.cols, begin, end, activations, n, y, m.rows);
  });
}

void ModelContext::NormAndMultiply(const float* norm,
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

void ModelContext::Embed(const int32_t* tokens, int64_t n) {
  const ModelConfig& c = model_->config();
  const ModelWeights& w = model_->weights();
  Scratch& s = *scratch_;
  for (int64_t t = 0; t < n; ++t) {
    core::Status status =
        Dequantize(w.token_embd.type, w.token_embd.row(tokens[t]), c.n_embd, s.x.data() + t * c.n_embd);
    (void)status;  // the type was checked at load
  }
  // RoPE's cos/sin for each token: theta_i = p * theta_scale^i, built by
  // repeated multiplication in float as ggml does.
  const int64_t half_rot = c.n_rot / 2;
  const float theta_scale = std::pow(c.rope_freq_base, -2.0f / static_cast<float>(c.n_rot));
  for (int64_t t = 0; t < n; ++t) {
    float theta = static_cast<float>(position_ + t);
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

void ModelContext::Rope(float* head, int64_t t) const {
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

void ModelContext::QueryKeyValue(int64_t l, int64_t n) {
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
    // Into the cache: [layer][kv head][position][head_dim].
    for (int64_t h = 0; h < c.n_head_kv; ++h) {
      const uint64_t at = CacheOffset(l, h, position_ + t);
      if (kv_type_ == KvCacheType::kF16) {
        ToF16(fast, k + h * head_dim, k16_.get() + at, head_dim);
        ToF16(fast, v + h * head_dim, v16_.get() + at, head_dim);
      } else {
        std::copy(k + h * head_dim, k + (h + 1) * head_dim, k32_.get() + at);
        std::copy(v + h * head_dim, v + (h + 1) * head_dim, v32_.get() + at);
      }
    }
  }
}

uint64_t ModelContext::CacheOffset(int64_t layer, int64_t kv_head, int64_t position) const {
  const ModelConfig& c = model_->config();
  return (static_cast<uint64_t>(layer * c.n_head_kv + kv_head) * static_cast<uint64_t>(context_size_) +
          static_cast<uint64_t>(position)) *
         static_cast<uint64_t>(c.head_dim);
}

void ModelContext::Attention(int64_t l, int64_t n) {
  const ModelConfig& c = model_->config();
  Scratch& s = *scratch_;
  const bool fast = isa_ != KernelIsa::kScalar;
  const int64_t head_dim = c.head_dim, q_dim = c.q_dim(), group = c.n_head_per_kv();
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t pairs = n * c.n_head;
  // With an F16 cache, q.k and the value mixture are summed in llama.cpp's
  // order (ordered_sums.h): its cache length is the positions in use
  // rounded up to 256, and n tokens take the one-token or the tiled path.
  const int64_t width = LlamaVectorWidth();
  const int64_t cache_length = (position_ + n + 255) / 256 * 256;
  const SumOrder score_order = AttentionSumOrder(width, n, head_dim);
  const SumOrder mix_order = AttentionSumOrder(width, n, cache_length);
  const auto work_floats = static_cast<size_t>(OrderedSumWorkFloats(width, head_dim));
  // One (token, head) pair per iteration.
#pragma omp parallel for num_threads(std::max <int64_t>(1, std::min <int64_t>(threads_, pairs))) schedule(dynamic, 1)
  for (int64_t pair = 0; pair < pairs; ++pair) {
    const int64_t t = pair / c.n_head, h = pair % c.n_head;
    const int thread = omp_get_thread_num();
    float* scores = s.scores.data() + static_cast<size_t>(thread) * static_cast<size_t>(context_size_);
    const float* q = s.q.data() + t * q_dim + h * head_dim;
    float* out = s.attn.data() + t * q_dim + h * head_dim;
    const int64_t visible = position_ + t + 1;
    const uint64_t base = CacheOffset(l, h / group, 0);
    if (kv_type_ == KvCacheType::kF16) {
      uint16_t* q16 = s.q16.data() + static_cast<size_t>(thread) * static_cast<size_t>(head_dim);
      ToF16(fast, q, q16, head_dim);
      OrderedDotsF16(fast, width, score_order, q16, k16_.get() + base, head_dim, visible, head_dim, scores);
      ScaledSoftmax(fast, scores, visible, scale);
      RoundToF16(fast, scores, visible);
      OrderedWeightedSumF16(fast, width, mix_order, scores, v16_.get() + base, head_dim, visible, head_dim, out,
                            s.sums.data() + static_cast<size_t>(thread) * work_floats);
    } else {
      std::fill(out, out + head_dim, 0.0f);
      for (int64_t j = 0; j < visible; ++j) scores[j] = DotF32(fast, q, k32_.get() + base + j * head_dim, head_dim);
      ScaledSoftmax(fast, scores, visible, scale);
      for (int64_t j = 0; j < visible; ++j) AxpyF32(fast, scores[j], v32_.get() + base + j * head_dim, out, head_dim);
    }
  }
}

void ModelContext::FeedForward(int64_t l, int64_t n) {
  const ModelConfig& c = model_->config();
  const LayerWeights& layer = model_->weights().layers[static_cast<size_t>(l)];
  Scratch& s = *scratch_;
  const int64_t embd = c.n_embd;
  NormAndMultiply(layer.ffn_norm, {{&layer.gate, s.gate.data()}, {&layer.up, s.up.data()}}, n);
  SwiGlu(isa_ != KernelIsa::kScalar, s.gate.data(), s.up.data(), n * c.n_ff);
  Convert(layer.down.type, s.gate.data(), c.n_ff, n);
  Multiply(layer.down, n, s.proj.data());
  for (int64_t i = 0; i < n * embd; ++i) s.x[i] += s.proj[i];
}

void ModelContext::Forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits) {
  const ModelConfig& c = model_->config();
  const ModelWeights& w = model_->weights();
  Scratch& s = *scratch_;
  const int64_t embd = c.n_embd;
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
  position_ += n;
  if (!logits) return;
  // Only the rows asked for go through the output matrix.
  const int64_t first = all_logits ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) {
    RmsNorm(s.x.data() + t * embd, w.output_norm, c.rms_eps, embd, s.xn.data() + (t - first) * embd);
  }
  Convert(w.output.type, s.xn.data(), embd, n - first);
  Multiply(w.output, n - first, logits);
}

}  // namespace berth::llm
