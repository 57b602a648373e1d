#include "llm/model/batch_decoder.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "llm/model/forward_step.h"

namespace berth::llm {

BatchDecoder::~BatchDecoder() = default;

core::Result<std::unique_ptr<BatchDecoder>> BatchDecoder::Create(std::shared_ptr<const LanguageModel> model,
                                                                 const BatchOptions& options) {
  if (options.max_batch < 1 || options.max_batch > 1024) {
    return core::InvalidArgument("batch of {} sequences is outside [1, 1024]", options.max_batch);
  }
  if (options.threads < 0 || options.threads > 1024) {
    return core::InvalidArgument("thread count {} is outside [0, 1024]", options.threads);
  }
  ASSIGN_OR_RETURN(KernelIsa isa, SelectKernelIsa());
  std::unique_ptr<BatchDecoder> decoder(new BatchDecoder());
  const int threads = options.threads > 0 ? options.threads : core::HardwareThreads();
  decoder->step_ = std::make_unique<ForwardStep>(model, threads, isa, options.max_batch);
  decoder->model_ = std::move(model);
  return decoder;
}

int64_t BatchDecoder::max_batch() const { return step_->max_rows(); }
int BatchDecoder::threads() const { return step_->threads(); }

core::Status BatchDecoder::Decode(std::span<ModelContext* const> sequences, std::span<const int32_t> tokens,
                                  float* logits) {
  const int64_t n = static_cast<int64_t>(sequences.size()), vocab = model_->config().n_vocab;
  if (tokens.size() != sequences.size()) {
    return core::InvalidArgument("{} tokens for {} sequences", tokens.size(), sequences.size());
  }
  if (n > step_->max_rows()) {
    return core::InvalidArgument("{} sequences exceed the batch of {}", n, step_->max_rows());
  }
  std::vector<SequenceRows> rows;
  rows.reserve(static_cast<size_t>(n));
  int64_t context = 0;
  for (int64_t i = 0; i < n; ++i) {
    ModelContext* sequence = sequences[static_cast<size_t>(i)];
    const int32_t token = tokens[static_cast<size_t>(i)];
    if (!sequence) return core::InvalidArgument("sequence {} is null", i);
    if (&sequence->model() != model_.get()) {
      return core::InvalidArgument("sequence {} runs another model than the decoder's", i);
    }
    if (std::find(sequences.begin(), sequences.begin() + i, sequence) != sequences.begin() + i) {
      return core::InvalidArgument("sequence {} appears twice in the step", i);
    }
    if (token < 0 || token >= vocab) {
      return core::InvalidArgument("token id {} of sequence {} is outside the vocabulary [0, {})", token, i, vocab);
    }
    if (sequence->position() >= sequence->context_size()) {
      return core::ResourceExhausted("sequence {} is full: {} of {} positions are in use", i, sequence->position(),
                                     sequence->context_size());
    }
    rows.push_back({sequence->cache_.get(), sequence->position(), 1});
    context = std::max(context, sequence->context_size());
  }
  if (n == 0) return core::Status::Ok();
  step_->ReserveContext(context);
  step_->Run(rows, tokens.data(), StepKind::kEachRowAlone, 0, logits);
  for (ModelContext* sequence : sequences) sequence->position_ += 1;
  return core::Status::Ok();
}

}  // namespace berth::llm
