#include "llm/model/model_context.h"

#include <algorithm>

#include "core/parallel.h"
#include "llm/model/forward_step.h"

namespace berth::llm {
namespace {

// The largest context CreateContext picks by itself: models advertise up to
// 128k tokens, whose cache a user should ask for explicitly.
constexpr int64_t kDefaultContextCap = 4096;

}  // namespace

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
  ASSIGN_OR_RETURN(KernelIsa isa, SelectKernelIsa());
  context->cache_ = std::make_unique<KvCache>(config, size, options.kv_type);
  // Scratch for one forward step of at most batch_size tokens (never more
  // than the context holds).
  context->batch_size_ = std::min(options.batch_size, size);
  const int threads = options.threads > 0 ? options.threads : core::HardwareThreads();
  context->step_ = std::make_unique<ForwardStep>(model, threads, isa, context->batch_size_);
  context->step_->ReserveContext(size);
  context->model_ = std::move(model);
  return context;
}

int ModelContext::threads() const { return step_->threads(); }
KernelIsa ModelContext::isa() const { return step_->isa(); }

void ModelContext::Truncate(int64_t n) { position_ = std::clamp<int64_t>(n, 0, position_); }

core::Status ModelContext::Evaluate(std::span<const int32_t> tokens, LogitsWanted wanted, std::vector<float>* logits) {
  const ModelConfig& config = model_->config();
  const auto n = static_cast<int64_t>(tokens.size());
  for (int32_t token : tokens) {
    if (token < 0 || token >= config.n_vocab) {
      return core::InvalidArgument("token id {} is outside the vocabulary [0, {})", token, config.n_vocab);
    }
  }
  if (n > context_size() - position_) {
    return core::ResourceExhausted("{} tokens do not fit the context: {} of {} positions are in use", n, position_,
                                   context_size());
  }
  const bool hidden = wanted == LogitsWanted::kHidden;
  const int64_t width = hidden ? config.n_embd : config.n_vocab;
  if (logits) {
    const int64_t rows = wanted == LogitsWanted::kAll || hidden ? n : (wanted == LogitsWanted::kLast && n > 0 ? 1 : 0);
    logits->resize(static_cast<size_t>(rows * width));
  }
  for (int64_t begin = 0; begin < n; begin += batch_size_) {
    const int64_t count = std::min(batch_size_, n - begin);
    float* out = nullptr;
    int64_t first = count - 1;  // only the last row's logits, unless all are wanted
    if (logits && (wanted == LogitsWanted::kAll || hidden)) {
      out = logits->data() + begin * width;
      first = 0;
    } else if (logits && wanted == LogitsWanted::kLast && begin + count == n) {
      out = logits->data();
    }
    const SequenceRows rows{cache_.get(), position_, count};
    step_->Run({&rows, 1}, tokens.data() + begin, StepKind::kChunk, first, out, hidden);
    position_ += count;
  }
  return core::Status::Ok();
}

}  // namespace berth::llm
