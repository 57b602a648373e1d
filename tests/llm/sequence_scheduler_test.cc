// SequenceScheduler: sequences run together give the tokens they give
// alone; prefix reuse gives the tokens a fresh cache gives; the queue, the
// context and cancellation answer as documented.
#include "llm/serving/sequence_scheduler.h"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace berth::llm {
namespace {

std::string ModelPath(const std::string& name) {
  return std::string(BERTH_TEST_DATA_DIR) + "/llm/models/" + name + ".gguf";
}

struct Loaded {
  std::shared_ptr<const LanguageModel> model;
  std::shared_ptr<const Tokenizer> tokenizer;
};

Loaded Load(const std::string& name) {
  auto model = LanguageModel::Open(ModelPath(name));
  EXPECT_TRUE(model.ok()) << model.status().message();
  auto tokenizer = Tokenizer::Create((*model)->vocabulary());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  return Loaded{*model, std::shared_ptr<const Tokenizer>(std::move(*tokenizer))};
}

std::unique_ptr<SequenceScheduler> Make(const Loaded& loaded, int parallel, int64_t batch_size = 8,
                                        size_t max_waiting = 64) {
  SchedulerOptions options;
  options.parallel = parallel;
  options.threads = 1;
  options.batch_size = batch_size;
  options.max_waiting = max_waiting;
  auto scheduler = SequenceScheduler::Create(loaded.model, loaded.tokenizer, options);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status().message();
  return std::move(*scheduler);
}

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  SequenceUpdate last;
};

// Submits a request whose updates are gathered; the future is ready once
// it finishes.
std::future<Outcome> Submit(SequenceScheduler& scheduler, SequenceRequest request) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto outcome = std::make_shared<Outcome>();
  std::future<Outcome> future = promise->get_future();
  request.logprobs = true;
  scheduler.Submit(std::move(request), [promise, outcome](SequenceUpdate update) {
    for (const SampledToken& token : update.tokens) outcome->tokens.push_back(token.token);
    outcome->text += update.text;
    if (update.finished) {
      outcome->last = std::move(update);
      promise->set_value(std::move(*outcome));
    }
  });
  return future;
}

SequenceRequest Greedy(const Tokenizer& tokenizer, const std::string& prompt, int64_t max_tokens) {
  SequenceRequest request;
  request.prompt = tokenizer.Encode(prompt, true, false);
  request.sampling.temperature = 0;
  request.max_tokens = max_tokens;
  request.ignore_eos = true;
  return request;
}

const std::vector<std::string> kPrompts = {
    "And God said",
    "In the beginning",
    "The LORD is my shepherd; I shall not want. He maketh me",
    "Blessed are",
    "And it came to pass, when the men",
    "Thou shalt",
    "For God so loved",
    "And the children of Israel went up out of the land of Egypt, and Moses",
};

TEST(SequenceScheduler, TokensTogetherEqualTokensAlone) {
  for (const std::string name : {"kjv-llama-f32", "kjv-qwen2-f32"}) {
    Loaded loaded = Load(name);
    std::vector<Outcome> alone;
    {
      auto scheduler = Make(loaded, 1);
      for (const std::string& prompt : kPrompts) {
        alone.push_back(Submit(*scheduler, Greedy(*loaded.tokenizer, prompt, 24)).get());
      }
    }
    // All at once on four slots: the others wait, start mid-way through
    // the first ones, and share every step with them.
    auto scheduler = Make(loaded, 4);
    std::vector<std::future<Outcome>> together;
    for (const std::string& prompt : kPrompts)
      together.push_back(Submit(*scheduler, Greedy(*loaded.tokenizer, prompt, 24)));
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      Outcome outcome = together[i].get();
      ASSERT_TRUE(outcome.last.status.ok()) << outcome.last.status.message();
      EXPECT_EQ(outcome.tokens, alone[i].tokens) << name << ": " << kPrompts[i];
      EXPECT_EQ(outcome.text, alone[i].text);
      EXPECT_EQ(outcome.last.completion_tokens, 24);
      EXPECT_EQ(outcome.last.finish, SequenceFinish::kLength);
    }
  }
}

TEST(SequenceScheduler, ReusedPrefixGivesTheTokensOfAFreshCache) {
  Loaded loaded = Load("kjv-llama-f32");
  // A conversation that re-sends its history: each prompt extends the last.
  std::vector<std::string> turns = {"And God said unto Moses,", "And God said unto Moses, Go down",
                                    "And God said unto Moses, Go down, charge the people, lest they break through"};
  auto reused = Make(loaded, 1, 4);
  int64_t cached = 0;
  for (const std::string& prompt : turns) {
    Outcome with_cache = Submit(*reused, Greedy(*loaded.tokenizer, prompt, 12)).get();
    auto fresh_scheduler = Make(loaded, 1, 4);
    Outcome fresh = Submit(*fresh_scheduler, Greedy(*loaded.tokenizer, prompt, 12)).get();
    EXPECT_EQ(with_cache.tokens, fresh.tokens) << prompt;
    EXPECT_EQ(fresh.last.cached_tokens, 0);
    cached += with_cache.last.cached_tokens;
  }
  EXPECT_GT(cached, 0);  // the later turns did reuse the earlier ones
}

TEST(SequenceScheduler, ReusablePrefixKeepsChunkKinds) {
  const std::vector<int32_t> cached = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  // Nothing in common, or only computed one token at a time: nothing.
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 10, std::vector<int32_t>{9, 9, 9}, 4), 0);
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 0, std::vector<int32_t>{1, 2, 3, 4, 5}, 4), 0);
  // The prompt extends the cache: all of it but what must be read again
  // for the logits, and never leaving a lone token where the prompt alone
  // reads a chunk of several.
  const std::vector<int32_t> longer = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 10, longer, 4), 10);  // reads [10,12): 2 tokens, as alone
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 7, longer, 4), 6);    // [7,8) alone would be part of [4,8)
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 8, longer, 4), 8);    // [8,12), as alone
  // The same prompt again: the last token is read again, with its chunk.
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 10, cached, 4), 8);  // [8,10), as alone
  const std::vector<int32_t> nine(cached.begin(), cached.begin() + 9);
  EXPECT_EQ(SequenceScheduler::ReusablePrefix(cached, 10, nine, 4), 8);  // [8,9) is a lone token alone too
}

TEST(SequenceScheduler, RefusesWhatCannotRun) {
  Loaded loaded = Load("kjv-llama-f32");
  auto scheduler = Make(loaded, 1, 8, /*max_waiting=*/1);
  const int64_t context = scheduler->context_size();
  SequenceRequest too_long = Greedy(*loaded.tokenizer, "And God said", context);
  EXPECT_EQ(Submit(*scheduler, std::move(too_long)).get().last.status.code(), core::StatusCode::kInvalidArgument);
  SequenceRequest empty;
  EXPECT_EQ(Submit(*scheduler, std::move(empty)).get().last.status.code(), core::StatusCode::kInvalidArgument);
  SequenceRequest outside = Greedy(*loaded.tokenizer, "x", 4);
  outside.prompt.push_back(static_cast<int32_t>(loaded.model->config().n_vocab));
  EXPECT_EQ(Submit(*scheduler, std::move(outside)).get().last.status.code(), core::StatusCode::kInvalidArgument);

  // One slot busy, one waiting: the third is refused at once.
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  SequenceRequest running = Greedy(*loaded.tokenizer, "And God said", context - 8);
  running.cancelled = cancel;
  auto first = Submit(*scheduler, std::move(running));
  while (scheduler->load().running == 0) std::this_thread::yield();  // the first holds the slot
  auto second = Submit(*scheduler, Greedy(*loaded.tokenizer, "In the beginning", 4));
  // The third is refused before Submit returns (its callback runs then).
  bool answered = false;
  core::StatusCode third = core::StatusCode::kOk;
  scheduler->Submit(Greedy(*loaded.tokenizer, "Blessed are", 4), [&](SequenceUpdate update) {
    answered = update.finished;
    third = update.status.code();
  });
  ASSERT_TRUE(answered);
  EXPECT_EQ(third, core::StatusCode::kResourceExhausted);
  // The client of the first goes away: its slot frees and the second runs.
  cancel->store(true);
  EXPECT_EQ(first.get().last.status.code(), core::StatusCode::kCancelled);
  Outcome after = second.get();
  EXPECT_TRUE(after.last.status.ok());
  EXPECT_EQ(after.last.completion_tokens, 4);
}

TEST(SequenceScheduler, StopStringsEndTheText) {
  Loaded loaded = Load("kjv-llama-f32");
  auto scheduler = Make(loaded, 2);
  Outcome full = Submit(*scheduler, Greedy(*loaded.tokenizer, "And God said", 20)).get();
  const size_t cut = full.text.find(' ', 4);
  ASSERT_NE(cut, std::string::npos);
  SequenceRequest request = Greedy(*loaded.tokenizer, "And God said", 20);
  request.stop = {full.text.substr(cut, 3)};
  Outcome stopped = Submit(*scheduler, std::move(request)).get();
  EXPECT_EQ(stopped.text, full.text.substr(0, cut));
  EXPECT_EQ(stopped.last.finish, SequenceFinish::kStop);
}

}  // namespace
}  // namespace berth::llm
