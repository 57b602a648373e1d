// SequenceScheduler: many generation requests on one language model at
// once (continuous batching). `parallel` slots each own a ModelContext (a KV
// cache of `context_size` positions); requests wait in a bounded queue for a
// slot; one scheduling thread advances every running sequence a step at a
// time: a chunk of one sequence's prompt, then one token for each sequence
// that is generating, so running streams keep flowing while a new prompt is
// read.
//
// Results do not depend on what else runs: every sequence's prompt is read
// in chunks that end at the same multiples of `batch_size` as when it runs
// alone, and its tokens are generated one at a time, so at temperature 0 a
// request gives the same tokens alone or among others. A slot keeps the
// tokens of its last request: a new prompt that starts with them (a chat
// re-sending its history) reuses them from the cache, as far as they were
// computed as that prompt's own chunks would be (see ReusablePrefix).
//
// Generating sequences advance together: one BatchDecoder step per
// scheduling step reads the weights once for all of them, each row
// computed exactly as the sequence alone would compute it.
//
// Threads: Submit may be called from any thread. Callbacks run on the
// scheduling thread (or, for a request refused at once, on Submit's caller
// before it returns), in order per request, never concurrently with each
// other; they must not block. Destruction stops the thread; requests still
// queued or running then finish with Unavailable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "llm/model/batch_decoder.h"
#include "llm/model/language_model.h"
#include "llm/model/model_context.h"
#include "llm/sampling/sampler.h"
#include "llm/tokenizer/tokenizer.h"

namespace berth::llm {

// A rule on which tokens may come next (structured output: llm/grammar's
// GrammarConstraint). One per sequence, used from the scheduling thread only.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Tokens the sequence may still generate, before the first is drawn.
  virtual void SetTokenBudget(int64_t tokens) = 0;
  // The tokens that may come next, as a bitmask over the vocabulary (bit i
  // of word i / 64); end-of-generation only once the text is complete.
  virtual core::Status FillMask(std::vector<uint64_t>* allowed) = 0;
  // The sampled token; an error ends the sequence.
  virtual core::Status Accept(int32_t token) = 0;
  // Complete and nothing may follow: the sequence ends here.
  virtual bool Finished() const = 0;
};

// An embedding instead of generation: the prompt's final hidden states
// pooled into one L2-normalised vector.
enum class Pooling { kNone, kMean, kCls, kLast };

struct SequenceRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  bool logprobs = false;    // report each token's log-probability (and sampling.top_logprobs alternatives)
  int64_t max_tokens = -1;  // -1: until the context is full
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::unique_ptr<TokenConstraint> constraint;
  Pooling embedding = Pooling::kNone;            // not kNone: read the prompt, pool, generate nothing
  std::shared_ptr<std::atomic<bool>> cancelled;  // set: the sequence ends at its next step (Cancelled)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

enum class SequenceFinish { kNone, kStop, kLength };

struct SequenceUpdate {
  std::string text;  // new text: whole UTF-8 characters, stop strings held back and never sent
  int64_t token_count = 0;
  std::vector<SampledToken> tokens;  // with `logprobs`: the tokens behind `text`
  bool finished = false;
  core::Status status;  // on the last update
  SequenceFinish finish = SequenceFinish::kNone;
  bool timed_out = false;  // finished (kLength) because the deadline passed
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;     // prompt tokens reused from the slot's cache
  std::vector<float> embedding;  // an embedding request's vector, on the last update
  double queue_seconds = 0;
  double first_token_seconds = 0;
};

using SequenceCallback = std::function<void(SequenceUpdate update)>;

struct SchedulerOptions {
  int parallel = 1;          // slots: sequences running at once
  int64_t context_size = 0;  // positions per slot; 0: the model's (at most 4096)
  KvCacheType kv_type = KvCacheType::kF16;
  int threads = 0;               // 0: all hardware threads
  int64_t batch_size = 256;      // prompt tokens per step
  size_t max_waiting = 64;       // queued requests beyond the slots; more: ResourceExhausted
  uint64_t kv_cache_memory = 0;  // every slot's KV cache together at most (0: no limit)
};

struct SchedulerLoad {
  int running = 0;
  int waiting = 0;
  double kv_cache_usage = 0;  // positions in use / all slots' positions
};

class SequenceScheduler {
 public:
  static core::Result<std::unique_ptr<SequenceScheduler>> Create(std::shared_ptr<const LanguageModel> model,
                                                                 std::shared_ptr<const Tokenizer> tokenizer,
                                                                 const SchedulerOptions& options);
  ~SequenceScheduler();
  SequenceScheduler(const SequenceScheduler&) = delete;
  SequenceScheduler& operator=(const SequenceScheduler&) = delete;

  // Queues the request. Errors come through the callback as a finished
  // update: InvalidArgument (empty prompt, a token outside the vocabulary,
  // prompt and max_tokens beyond the context), ResourceExhausted (the queue
  // is full), Unavailable (shutting down).
  void Submit(SequenceRequest request, SequenceCallback callback);

  SchedulerLoad load() const;
  int64_t context_size() const { return context_size_; }
  int parallel() const { return static_cast<int>(slots_.size()); }
  uint64_t kv_cache_bytes() const { return kv_cache_bytes_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const LanguageModel& model() const { return *model_; }

  // Of `cached` tokens in a slot, the first `multi` computed in prompt
  // chunks of two or more tokens: how many a prompt may reuse so that every
  // position it still reads lands in a chunk of the same kind (one token or
  // several) as when the prompt is read alone from position 0.
  static int64_t ReusablePrefix(std::span<const int32_t> cached, int64_t multi, std::span<const int32_t> prompt,
                                int64_t batch_size);

 private:
  struct Sequence;
  struct Slot;
  SequenceScheduler() = default;
  void Loop();
  void Admit(std::vector<std::pair<SequenceCallback, SequenceUpdate>>* finished);
  // One chunk of the slot's prompt (ending at a multiple of batch_size).
  void Prefill(Slot& slot);
  // Adds an embedding request's chunk (its rows' hidden states, the first at
  // `position`) to its pooled vector.
  void Pool(Sequence& sequence, int64_t position) const;
  // Samples the slot's next token and sends its text; false when that
  // ended the sequence.
  bool SampleNext(Slot& slot);
  // Samples a token for every generating sequence, then runs all of them
  // in one BatchDecoder step (each row as if alone).
  void DecodeStep();
  void Finish(Slot& slot, core::Status status, SequenceFinish finish, bool timed_out = false);

  std::shared_ptr<const LanguageModel> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  SchedulerOptions options_;
  int64_t context_size_ = 0;
  uint64_t kv_cache_bytes_ = 0;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t use_clock_ = 0;  // orders the slots by last use (scheduling thread only)
  std::unique_ptr<BatchDecoder> decoder_;
  std::vector<float> batch_logits_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  bool stopping_ = false;
  std::atomic<int> running_{0};
  std::atomic<int64_t> positions_in_use_{0};
  std::thread thread_;
};

}  // namespace berth::llm
