#include "llm/serving/sequence_scheduler.h"

#include <algorithm>
#include <cmath>
#include <system_error>
#include <utility>

#include "llm/sampling/stop_strings.h"
#include "llm/tokenizer/stream_decoder.h"

namespace berth::llm {

using Clock = std::chrono::steady_clock;

struct SequenceScheduler::Sequence {
  SequenceRequest request;
  SequenceCallback callback;
  Clock::time_point submitted = Clock::now();
  Clock::time_point admitted;
  double first_token_seconds = 0;
  bool first = true;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StopStrings> stops;
  std::unique_ptr<StreamDecoder> decoder;
  std::vector<int32_t> history;  // the prompt, then what was generated
  int64_t prompt_size = 0;
  int64_t generated = 0;
  int64_t cached = 0;  // prompt tokens reused from the slot's cache
  std::vector<float> logits;
  bool has_logits = false;        // the prompt is read: logits hold the next token's
  std::vector<uint64_t> allowed;  // the constraint's mask
  std::vector<double> pooled;     // an embedding's sum (mean), first row (CLS) or last row
};

struct SequenceScheduler::Slot {
  std::unique_ptr<ModelContext> context;
  std::vector<int32_t> tokens;  // what the cache holds, position by position
  int64_t multi = 0;            // of those, the first `multi` came from prompt chunks of 2+ tokens
  std::unique_ptr<Sequence> sequence;
  uint64_t last_used = 0;
};

core::Result<std::unique_ptr<SequenceScheduler>> SequenceScheduler::Create(std::shared_ptr<const LanguageModel> model,
                                                                           std::shared_ptr<const Tokenizer> tokenizer,
                                                                           const SchedulerOptions& options) {
  if (options.parallel < 1 || options.parallel > 256) {
    return core::InvalidArgument("parallel sequences must be in [1, 256], not {}", options.parallel);
  }
  if (options.batch_size < 1) return core::InvalidArgument("batch size must be positive, not {}", options.batch_size);
  std::unique_ptr<SequenceScheduler> scheduler(new SequenceScheduler());
  scheduler->model_ = std::move(model);
  scheduler->tokenizer_ = std::move(tokenizer);
  scheduler->options_ = options;
  ContextOptions context_options;
  context_options.context_size = options.context_size;
  context_options.kv_type = options.kv_type;
  context_options.threads = options.threads;
  context_options.batch_size = options.batch_size;
  for (int i = 0; i < options.parallel; ++i) {
    auto slot = std::make_unique<Slot>();
    ASSIGN_OR_RETURN(slot->context, ModelContext::Create(scheduler->model_, context_options));
    scheduler->context_size_ = slot->context->context_size();
    const uint64_t slot_bytes = slot->context->kv_cache_bytes();
    scheduler->kv_cache_bytes_ = slot_bytes * static_cast<uint64_t>(options.parallel);
    if (i == 0 && options.kv_cache_memory > 0 && scheduler->kv_cache_bytes_ > options.kv_cache_memory) {
      return core::ResourceExhausted(
          "{} sequences of {} tokens need {} MiB of KV cache, more than the {} MiB allowed: lower the parallel "
          "sequences or the context size",
          options.parallel, scheduler->context_size_, scheduler->kv_cache_bytes_ >> 20, options.kv_cache_memory >> 20);
    }
    scheduler->slots_.push_back(std::move(slot));
  }
  BatchOptions batch_options;
  batch_options.max_batch = options.parallel;
  batch_options.threads = options.threads;
  ASSIGN_OR_RETURN(scheduler->decoder_, BatchDecoder::Create(scheduler->model_, batch_options));
  try {
    scheduler->thread_ = std::thread([s = scheduler.get()] { s->Loop(); });
  } catch (const std::system_error& e) {
    // Out of threads (a pids limit, RLIMIT_NPROC): this model cannot run, the server can.
    return core::ResourceExhausted("cannot start the sequence scheduler's thread: {}", e.what());
  }
  return scheduler;
}

SequenceScheduler::~SequenceScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SequenceScheduler::Submit(SequenceRequest request, SequenceCallback callback) {
  auto refuse = [&callback](core::Status status) {
    SequenceUpdate update;
    update.finished = true;
    update.status = std::move(status);
    callback(std::move(update));
  };
  const int64_t n_vocab = model_->config().n_vocab;
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  if (prompt == 0) return refuse(core::InvalidArgument("the prompt is empty"));
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= n_vocab) {
      return refuse(core::InvalidArgument("prompt token {} is outside the vocabulary [0, {})", id, n_vocab));
    }
  }
  if (core::Status valid = request.sampling.Validate(n_vocab); !valid.ok()) return refuse(valid);
  const int64_t more = request.embedding != Pooling::kNone ? 0 : std::max<int64_t>(1, request.max_tokens);
  if (prompt + more > context_size_) {
    return refuse(core::InvalidArgument(
        "this model's context is {} tokens; the prompt is {} and {} more were asked for ({} in all)", context_size_,
        prompt, more, prompt + more));
  }
  auto sequence = std::make_unique<Sequence>();
  sequence->prompt_size = prompt;
  sequence->history = request.prompt;
  sequence->sampler = std::make_unique<Sampler>(request.sampling);
  sequence->stops = std::make_unique<StopStrings>(request.stop);
  sequence->decoder = std::make_unique<StreamDecoder>(*tokenizer_);
  sequence->request = std::move(request);
  sequence->callback = std::move(callback);
  core::Status refused;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refused = core::Unavailable("the model is unloading");
    } else if (waiting_.size() >= options_.max_waiting) {
      refused = core::ResourceExhausted("the model's queue is full ({} requests waiting for {} slots)", waiting_.size(),
                                        slots_.size());
    } else {
      waiting_.push_back(std::move(sequence));
    }
  }
  if (!refused.ok()) {
    callback = std::move(sequence->callback);
    return refuse(std::move(refused));
  }
  wake_.notify_one();
}

SchedulerLoad SequenceScheduler::load() const {
  SchedulerLoad load;
  {
    std::lock_guard lock(mutex_);
    load.waiting = static_cast<int>(waiting_.size());
  }
  load.running = running_.load(std::memory_order_relaxed);
  load.kv_cache_usage = static_cast<double>(positions_in_use_.load(std::memory_order_relaxed)) /
                        static_cast<double>(context_size_ * static_cast<int64_t>(slots_.size()));
  return load;
}

int64_t SequenceScheduler::ReusablePrefix(std::span<const int32_t> cached, int64_t multi,
                                          std::span<const int32_t> prompt, int64_t batch_size) {
  const int64_t limit =
      std::min<int64_t>({multi, static_cast<int64_t>(cached.size()), static_cast<int64_t>(prompt.size()) - 1});
  int64_t p = 0;
  while (p < limit && cached[p] == prompt[p]) ++p;
  if (p <= 0) return 0;
  // The first chunk then read is [p, end); alone it would be [start, end).
  const int64_t start = p / batch_size * batch_size;
  const int64_t end = std::min<int64_t>(static_cast<int64_t>(prompt.size()), start + batch_size);
  if (end - p == 1 && end - start > 1) --p;  // one token alone would be read in a chunk of several
  return p;
}

void SequenceScheduler::Admit(std::vector<std::pair<SequenceCallback, SequenceUpdate>>* finished) {
  while (!waiting_.empty()) {
    std::unique_ptr<Sequence>& next = waiting_.front();
    if (next->request.cancelled && next->request.cancelled->load(std::memory_order_relaxed)) {
      SequenceUpdate update;
      update.finished = true;
      update.status = core::Status(core::StatusCode::kCancelled, "the client went away while the request waited");
      finished->emplace_back(std::move(next->callback), std::move(update));
      waiting_.pop_front();
      continue;
    }
    if (Clock::now() > next->request.deadline) {
      SequenceUpdate update;
      update.finished = true;
      update.status =
          core::Status(core::StatusCode::kDeadlineExceeded, "the request timed out waiting for a free sequence slot");
      update.queue_seconds = std::chrono::duration<double>(Clock::now() - next->submitted).count();
      finished->emplace_back(std::move(next->callback), std::move(update));
      waiting_.pop_front();
      continue;
    }
    Slot* best = nullptr;
    int64_t best_reuse = -1;
    for (auto& slot : slots_) {
      if (slot->sequence) continue;
      // An embedding needs every prompt row's hidden state: nothing is reused.
      const int64_t reuse = next->request.embedding != Pooling::kNone
                                ? 0
                                : ReusablePrefix(slot->tokens, slot->multi, next->request.prompt, options_.batch_size);
      if (reuse > best_reuse || (reuse == best_reuse && slot->last_used < best->last_used)) {
        best = slot.get();
        best_reuse = reuse;
      }
    }
    if (!best) return;  // every slot is busy
    best->context->Truncate(best_reuse);
    best->tokens.resize(static_cast<size_t>(best_reuse));
    best->multi = std::min(best->multi, best_reuse);
    best->last_used = ++use_clock_;
    next->cached = best_reuse;
    next->admitted = Clock::now();
    best->sequence = std::move(next);
    waiting_.pop_front();
    running_.fetch_add(1, std::memory_order_relaxed);
    positions_in_use_.fetch_add(best_reuse, std::memory_order_relaxed);
  }
}

void SequenceScheduler::Loop() {
  for (;;) {
    std::vector<std::pair<SequenceCallback, SequenceUpdate>> finished;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !waiting_.empty() || running_.load() > 0; });
      if (stopping_) break;
      Admit(&finished);
    }
    for (auto& [callback, update] : finished) callback(std::move(update));

    // Sequences whose client left or whose time ran out end first.
    for (auto& slot : slots_) {
      Sequence* sequence = slot->sequence.get();
      if (!sequence) continue;
      if (sequence->request.cancelled && sequence->request.cancelled->load(std::memory_order_relaxed)) {
        Finish(*slot, core::Status(core::StatusCode::kCancelled, "the client went away"), SequenceFinish::kNone);
      } else if (Clock::now() > sequence->request.deadline) {
        Finish(*slot, core::Status::Ok(), SequenceFinish::kLength, /*timed_out=*/true);
      }
    }
    // One chunk of the prompt that has waited longest, then a token for
    // every sequence that is generating: a prompt's last chunk is followed
    // at once by its first token, rather than by a step of the others.
    Slot* prefill = nullptr;
    for (auto& slot : slots_) {
      if (slot->sequence && !slot->sequence->has_logits &&
          (!prefill || slot->sequence->admitted < prefill->sequence->admitted)) {
        prefill = slot.get();
      }
    }
    if (prefill) Prefill(*prefill);
    DecodeStep();
  }
  // Shutting down: whatever is left ends now.
  std::deque<std::unique_ptr<Sequence>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiting_);
  }
  for (auto& sequence : left) {
    SequenceUpdate update;
    update.finished = true;
    update.status = core::Unavailable("the model is unloading");
    sequence->callback(std::move(update));
  }
  for (auto& slot : slots_) {
    if (slot->sequence) Finish(*slot, core::Unavailable("the model is unloading"), SequenceFinish::kNone);
  }
}

void SequenceScheduler::Prefill(Slot& slot) {
  Sequence& sequence = *slot.sequence;
  const int64_t position = slot.context->position();
  const int64_t batch = options_.batch_size;
  const int64_t end = std::min(sequence.prompt_size, (position / batch + 1) * batch);
  std::span<const int32_t> chunk(sequence.history.data() + position, static_cast<size_t>(end - position));
  const bool last = end == sequence.prompt_size;
  const bool embedding = sequence.request.embedding != Pooling::kNone;
  core::Status status = slot.context->Evaluate(chunk,
                                               embedding ? LogitsWanted::kHidden
                                               : last    ? LogitsWanted::kLast
                                                         : LogitsWanted::kNone,
                                               &sequence.logits);
  if (!status.ok()) return Finish(slot, status, SequenceFinish::kNone);
  if (embedding) Pool(sequence, position);
  if (slot.multi == position && end - position >= 2) slot.multi = end;
  slot.tokens.insert(slot.tokens.end(), chunk.begin(), chunk.end());
  positions_in_use_.fetch_add(end - position, std::memory_order_relaxed);
  sequence.has_logits = last && !embedding;
  if (last && embedding) Finish(slot, core::Status::Ok(), SequenceFinish::kStop);
}

void SequenceScheduler::Pool(Sequence& sequence, int64_t position) const {
  const auto width = static_cast<size_t>(model_->config().n_embd);
  const size_t rows = sequence.logits.size() / width;
  sequence.pooled.resize(width, 0.0);
  const Pooling pooling = sequence.request.embedding;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = sequence.logits.data() + r * width;
    const bool take = pooling == Pooling::kMean || (pooling == Pooling::kCls && position == 0 && r == 0) ||
                      (pooling == Pooling::kLast && position + static_cast<int64_t>(r) + 1 == sequence.prompt_size);
    if (!take) continue;
    for (size_t i = 0; i < width; ++i) sequence.pooled[i] += row[i];
  }
}

bool SequenceScheduler::SampleNext(Slot& slot) {
  Sequence& sequence = *slot.sequence;
  SequenceRequest& request = sequence.request;
  if (request.constraint) {
    if (sequence.generated == 0) {
      const int64_t room = context_size_ - slot.context->position();
      request.constraint->SetTokenBudget(request.max_tokens < 0 ? room : std::min(request.max_tokens, room));
    }
    core::Status masked = request.constraint->FillMask(&sequence.allowed);
    if (!masked.ok()) {
      Finish(slot, masked, SequenceFinish::kNone);
      return false;
    }
  }
  SampledToken next = sequence.sampler->Sample(sequence.logits, sequence.history, sequence.allowed);
  if (!request.ignore_eos && tokenizer_->IsEndOfGeneration(next.token)) {
    Finish(slot, core::Status::Ok(), SequenceFinish::kStop);
    return false;
  }
  if (request.constraint) {
    core::Status accepted = request.constraint->Accept(next.token);
    if (!accepted.ok()) {
      Finish(slot, accepted, SequenceFinish::kNone);
      return false;
    }
  }
  if (sequence.first) {
    sequence.first = false;
    sequence.first_token_seconds = std::chrono::duration<double>(Clock::now() - sequence.submitted).count();
  }
  sequence.history.push_back(next.token);
  ++sequence.generated;
  SequenceUpdate update;
  update.text = sequence.stops->Push(sequence.decoder->Push(next.token));
  update.token_count = 1;
  if (request.logprobs) update.tokens.push_back(std::move(next));
  sequence.callback(std::move(update));

  if (sequence.stops->stopped() || (request.constraint && request.constraint->Finished())) {
    Finish(slot, core::Status::Ok(), SequenceFinish::kStop);
    return false;
  }
  if (sequence.generated == request.max_tokens || slot.context->position() + 1 >= context_size_) {
    Finish(slot, core::Status::Ok(), SequenceFinish::kLength);
    return false;
  }
  return true;
}

void SequenceScheduler::DecodeStep() {
  std::vector<Slot*> batch;
  for (auto& slot : slots_) {
    if (slot->sequence && slot->sequence->has_logits && SampleNext(*slot)) batch.push_back(slot.get());
  }
  if (batch.empty()) return;
  // One step for every sequence that goes on: the weights are read once.
  std::vector<ModelContext*> contexts;
  std::vector<int32_t> tokens;
  for (Slot* slot : batch) {
    contexts.push_back(slot->context.get());
    tokens.push_back(slot->sequence->history.back());
  }
  const size_t vocab = static_cast<size_t>(model_->config().n_vocab);
  batch_logits_.resize(batch.size() * vocab);
  core::Status status = decoder_->Decode(contexts, tokens, batch_logits_.data());
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& slot = *batch[i];
    if (!status.ok()) {
      Finish(slot, status, SequenceFinish::kNone);
      continue;
    }
    std::vector<float>& logits = slot.sequence->logits;
    logits.assign(batch_logits_.begin() + static_cast<ptrdiff_t>(i * vocab),
                  batch_logits_.begin() + static_cast<ptrdiff_t>((i + 1) * vocab));
    slot.tokens.push_back(tokens[i]);
  }
  if (status.ok()) positions_in_use_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
}

void SequenceScheduler::Finish(Slot& slot, core::Status status, SequenceFinish finish, bool timed_out) {
  std::unique_ptr<Sequence> sequence = std::move(slot.sequence);
  running_.fetch_sub(1, std::memory_order_relaxed);
  positions_in_use_.fetch_sub(slot.context->position(), std::memory_order_relaxed);
  if (!status.ok()) {
    // A failed step may have left the cache part-written: forget it.
    slot.context->Truncate(0);
    slot.tokens.clear();
    slot.multi = 0;
  }
  SequenceUpdate update;
  update.finished = true;
  if (status.ok() && !sequence->stops->stopped()) {
    update.text = sequence->stops->Push(sequence->decoder->Flush());
    update.text += sequence->stops->Flush();
  }
  update.status = std::move(status);
  update.finish = finish;
  update.timed_out = timed_out;
  if (update.status.ok() && sequence->request.embedding != Pooling::kNone && !sequence->pooled.empty()) {
    double norm = 0;
    for (double v : sequence->pooled) norm += v * v;
    norm = norm > 0 ? std::sqrt(norm) : 1.0;
    update.embedding.reserve(sequence->pooled.size());
    for (double v : sequence->pooled) update.embedding.push_back(static_cast<float>(v / norm));
  }
  update.prompt_tokens = sequence->prompt_size;
  update.completion_tokens = sequence->generated;
  update.cached_tokens = sequence->cached;
  update.queue_seconds = std::chrono::duration<double>(sequence->admitted - sequence->submitted).count();
  update.first_token_seconds = sequence->first_token_seconds;
  sequence->callback(std::move(update));
}

}  // namespace berth::llm
