// BatchDecoder's promise, batch invariance: a sequence's logits in a batched
// decode step are bit for bit those of ModelContext::Evaluate on that
// sequence alone, token by token, whatever else is in the step. Tiny models
// of every weight type and the committed KJV models, under whichever kernel
// ISA the process runs (ctest runs llm_tests under each, run_with_isa.py),
// with sequences of different prompts joining and leaving mid-way, batches
// of 1 to 8, F16 and F32 caches side by side, and several thread counts.
#include "llm/model/batch_decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "llm/model/language_model.h"
#include "llm/model/model_context.h"
#include "tiny_model.h"

namespace berth::llm {
namespace {

using testing::LoadFromBytes;
using testing::MakeTinyModel;
using testing::TinySpec;
using testing::WriteTinyModel;

// One sequence of the schedule: its prompt, the step at which it joins (its
// prompt is evaluated right before that step), and the tokens it decodes.
struct Script {
  std::vector<int32_t> prompt;
  int join = 0;
  std::vector<int32_t> decoded;
  KvCacheType kv = KvCacheType::kF16;
};

std::vector<Script> MakeScripts(int64_t vocab, int count, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<Script> scripts(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    Script& s = scripts[static_cast<size_t>(i)];
    s.prompt.resize(static_cast<size_t>(1 + (i * 5) % 13));
    for (int32_t& t : s.prompt) t = static_cast<int32_t>(random() % vocab);
    s.join = i < 8 ? i : 4 + i;  // eight join one per step, the last ones after others left
    s.decoded.resize(static_cast<size_t>(8 + (i * 3) % 5));
    for (int32_t& t : s.decoded) t = static_cast<int32_t>(random() % vocab);
    s.kv = i % 3 == 2 ? KvCacheType::kF32 : KvCacheType::kF16;
  }
  return scripts;
}

std::unique_ptr<ModelContext> NewContext(const std::shared_ptr<const LanguageModel>& model, const Script& script,
                                         int threads) {
  ContextOptions options;
  options.context_size = 64;
  options.kv_type = script.kv;
  options.threads = threads;
  options.batch_size = 4;  // the longer prompts take several chunks
  auto context = ModelContext::Create(model, options);
  EXPECT_TRUE(context.ok()) << context.status().ToString();
  return std::move(*context);
}

// Logits of every decoded token of each script, each sequence run alone.
std::vector<std::vector<std::vector<float>>> RunAlone(const std::shared_ptr<const LanguageModel>& model,
                                                      const std::vector<Script>& scripts) {
  std::vector<std::vector<std::vector<float>>> out;
  for (const Script& s : scripts) {
    auto context = NewContext(model, s, 2);
    std::vector<float> logits;
    EXPECT_TRUE(context->Evaluate(s.prompt, LogitsWanted::kLast, &logits).ok());
    out.emplace_back();
    for (int32_t token : s.decoded) {
      EXPECT_TRUE(context->Evaluate(std::span<const int32_t>(&token, 1), LogitsWanted::kLast, &logits).ok());
      EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
      EXPECT_NE(*std::min_element(logits.begin(), logits.end()), *std::max_element(logits.begin(), logits.end()));
      out.back().push_back(logits);
    }
  }
  return out;
}

// Runs the scripts together: each step decodes every sequence that has
// joined and has tokens left, in a shuffled order; returns the largest batch.
int64_t RunBatched(const std::shared_ptr<const LanguageModel>& model, const std::vector<Script>& scripts,
                   const std::vector<std::vector<std::vector<float>>>& alone, int threads) {
  const int64_t vocab = model->config().n_vocab;
  auto decoder = BatchDecoder::Create(model, {.max_batch = 8, .threads = threads});
  EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
  std::vector<std::unique_ptr<ModelContext>> contexts(scripts.size());
  std::vector<size_t> done(scripts.size(), 0);
  std::mt19937 random(threads);
  int64_t largest = 0;
  for (int step = 0;; ++step) {
    std::vector<size_t> active;
    bool pending = false;
    for (size_t i = 0; i < scripts.size(); ++i) {
      if (scripts[i].join == step) {
        contexts[i] = NewContext(model, scripts[i], 3 - threads % 2);
        std::vector<float> ignored;
        EXPECT_TRUE(contexts[i]->Evaluate(scripts[i].prompt, LogitsWanted::kLast, &ignored).ok());
      }
      if (contexts[i] && done[i] < scripts[i].decoded.size()) active.push_back(i);
      pending = pending || scripts[i].join > step;
    }
    if (active.empty() && !pending) break;
    std::shuffle(active.begin(), active.end(), random);
    std::vector<ModelContext*> sequences;
    std::vector<int32_t> tokens;
    for (size_t i : active) {
      sequences.push_back(contexts[i].get());
      tokens.push_back(scripts[i].decoded[done[i]]);
    }
    std::vector<float> logits(active.size() * static_cast<size_t>(vocab));
    EXPECT_TRUE((*decoder)->Decode(sequences, tokens, logits.data()).ok());
    largest = std::max<int64_t>(largest, static_cast<int64_t>(active.size()));
    for (size_t row = 0; row < active.size(); ++row) {
      const size_t i = active[row];
      const std::vector<float>& expected = alone[i][done[i]];
      EXPECT_EQ(std::memcmp(logits.data() + row * vocab, expected.data(), vocab * sizeof(float)), 0)
          << "sequence " << i << " token " << done[i] << " in a step of " << active.size() << " (row " << row << ")";
      ++done[i];
    }
  }
  return largest;
}

void ExpectBatchInvariant(const std::shared_ptr<const LanguageModel>& model, uint32_t seed) {
  const std::vector<Script> scripts = MakeScripts(model->config().n_vocab, 10, seed);
  const auto alone = RunAlone(model, scripts);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(::testing::Message() << "decoder threads " << threads);
    EXPECT_EQ(RunBatched(model, scripts, alone, threads), 8);
  }
}

struct TypeCase {
  const char* name;
  uint32_t type;
};

class BatchInvariance : public ::testing::TestWithParam<TypeCase> {};

TEST_P(BatchInvariance, TinyModelRowsEqualEachSequenceAlone) {
  const TypeCase c = GetParam();
  for (const char* arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    TinySpec spec;
    spec.arch = arch;
    spec.matrix_type = c.type;
    spec.vocab = 72;
    spec.context = 64;
    const int64_t block = TraitsOf(c.type)->block_size;
    // Sizes of the type's blocks; the float ones with ragged lengths (a
    // vector tail in the products, SwiGLU past the last whole vector).
    spec.embd = block == 256 ? 256 : block == 32 ? 96 : 80;
    spec.ff = block == 256 ? 512 : block == 32 ? 160 : 72;
    auto model = LoadFromBytes(WriteTinyModel(MakeTinyModel(spec)));
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ExpectBatchInvariant(*model, c.type);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, BatchInvariance,
                         ::testing::Values(TypeCase{"F32", 0}, TypeCase{"F16", 1}, TypeCase{"BF16", 30},
                                           TypeCase{"Q8_0", 8}, TypeCase{"Q4_0", 2}, TypeCase{"Q4_1", 3},
                                           TypeCase{"Q5_0", 6}, TypeCase{"Q5_1", 7}, TypeCase{"Q4_K", 12},
                                           TypeCase{"Q5_K", 13}, TypeCase{"Q6_K", 14}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BatchInvariance, KjvModelsRowsEqualEachSequenceAlone) {
  for (const char* name : {"kjv-llama-f32.gguf", "kjv-qwen2-f32.gguf"}) {
    SCOPED_TRACE(name);
    auto model = LanguageModel::Open(std::string(BERTH_TEST_DATA_DIR) + "/llm/models/" + name);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ExpectBatchInvariant(*model, 11);
  }
}

TEST(BatchDecoder, RefusesBadStepsAndRunsNothing) {
  TinySpec spec;
  auto model = LoadFromBytes(WriteTinyModel(MakeTinyModel(spec)));
  auto other = LoadFromBytes(WriteTinyModel(MakeTinyModel(spec)));
  ASSERT_TRUE(model.ok() && other.ok());
  auto decoder = BatchDecoder::Create(*model, {.max_batch = 2, .threads = 1});
  ASSERT_TRUE(decoder.ok());
  EXPECT_FALSE(BatchDecoder::Create(*model, {.max_batch = 0}).ok());
  ContextOptions options;
  options.context_size = 2;
  auto a = ModelContext::Create(*model, options), b = ModelContext::Create(*model, options);
  auto c = ModelContext::Create(*model, options), foreign = ModelContext::Create(*other, options);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && foreign.ok());
  std::vector<float> logits(3 * spec.vocab);
  auto decode = [&](std::vector<ModelContext*> sequences, std::vector<int32_t> tokens) {
    return (*decoder)->Decode(sequences, tokens, logits.data()).code();
  };
  using core::StatusCode;
  EXPECT_EQ(decode({a->get()}, {1, 2}), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode({a->get(), b->get(), c->get()}, {1, 2, 3}), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode({a->get(), a->get()}, {1, 2}), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode({a->get(), nullptr}, {1, 2}), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode({a->get(), foreign->get()}, {1, 2}), StatusCode::kInvalidArgument);
  EXPECT_EQ(decode({a->get(), b->get()}, {1, static_cast<int32_t>(spec.vocab)}), StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->position(), 0);
  EXPECT_EQ(decode({}, {}), StatusCode::kOk);
  EXPECT_EQ(decode({a->get(), b->get()}, {1, 2}), StatusCode::kOk);
  EXPECT_EQ(decode({a->get()}, {3}), StatusCode::kOk);
  EXPECT_EQ((*a)->position(), 2);
  EXPECT_EQ((*b)->position(), 1);
  EXPECT_EQ(decode({b->get(), a->get()}, {1, 2}), StatusCode::kResourceExhausted);
  EXPECT_EQ((*b)->position(), 1);
}

}  // namespace
}  // namespace berth::llm
