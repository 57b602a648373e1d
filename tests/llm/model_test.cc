// The forward pass on tiny random models of each architecture against a
// plain double-precision reference, the cache's bookkeeping, and models
// whose tensors do not fit their architecture refused with one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "llm/model/language_model.h"
#include "llm/model/model_context.h"
#include "tiny_model.h"

namespace berth::llm {
namespace {

using testing::Kv;
using testing::LoadFromBytes;
using testing::MakeTinyModel;
using testing::ReferenceLogits;
using testing::TinyModel;
using testing::TinySpec;
using testing::WriteTinyModel;

// max |a - b| / max |b|: the error relative to the logits' scale.
double RelativeError(const std::vector<float>& a, const std::vector<double>& b) {
  double error = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    error = std::max(error, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return error / scale;
}

const std::vector<int32_t> kTokens = {1, 5, 9, 33, 4, 4, 17, 38, 2, 11, 7, 25};

class ForwardPass : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardPass, MatchesTheReferenceAtEveryPosition) {
  TinySpec spec;
  spec.arch = GetParam();
  spec.tied = spec.arch == "qwen2";
  TinyModel tiny = MakeTinyModel(spec);
  auto model = LoadFromBytes(WriteTinyModel(tiny));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<double> expected = ReferenceLogits(tiny, kTokens);

  for (int threads : {1, 2}) {
    ContextOptions options;
    options.kv_type = KvCacheType::kF32;
    options.threads = threads;
    options.batch_size = 5;  // several steps, the last one partial
    auto context = ModelContext::Create(*model, options);
    ASSERT_TRUE(context.ok()) << context.status().ToString();
    std::vector<float> logits;
    ASSERT_TRUE((*context)->Evaluate(kTokens, LogitsWanted::kAll, &logits).ok());
    ASSERT_EQ(logits.size(), expected.size());
    EXPECT_LT(RelativeError(logits, expected), 1e-5) << spec.arch << " threads " << threads;
    EXPECT_EQ((*context)->position(), static_cast<int64_t>(kTokens.size()));
  }
}

TEST_P(ForwardPass, TokenByTokenEqualsTheWholePromptAndTruncateRewinds) {
  TinySpec spec;
  spec.arch = GetParam();
  TinyModel tiny = MakeTinyModel(spec);
  auto model = LoadFromBytes(WriteTinyModel(tiny));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (KvCacheType kv : {KvCacheType::kF16, KvCacheType::kF32}) {
    ContextOptions options;
    options.kv_type = kv;
    options.threads = 2;
    auto whole = ModelContext::Create(*model, options);
    auto steps = ModelContext::Create(*model, options);
    ASSERT_TRUE(whole.ok() && steps.ok());
    std::vector<float> last_whole, last_step;
    ASSERT_TRUE((*whole)->Evaluate(kTokens, LogitsWanted::kLast, &last_whole).ok());
    for (int32_t token : kTokens) {
      ASSERT_TRUE((*steps)->Evaluate(std::span<const int32_t>(&token, 1), LogitsWanted::kLast, &last_step).ok());
    }
    ASSERT_EQ(last_whole.size(), static_cast<size_t>(spec.vocab));
    // An F16 cache sums attention in llama.cpp's orders, which differ
    // between one token and several (ordered_sums.h), and rounds the
    // attention weights to F16: the two runs may part by an F16 rounding.
    const double tolerance = kv == KvCacheType::kF16 ? 1e-3 : 1e-4;
    for (size_t i = 0; i < last_whole.size(); ++i) EXPECT_NEAR(last_whole[i], last_step[i], tolerance);

    // Rewind to 4 tokens and run the rest again: the same logits.
    (*steps)->Truncate(4);
    EXPECT_EQ((*steps)->position(), 4);
    std::vector<float> again;
    std::vector<int32_t> rest(kTokens.begin() + 4, kTokens.end());
    ASSERT_TRUE((*steps)->Evaluate(rest, LogitsWanted::kLast, &again).ok());
    for (size_t i = 0; i < again.size(); ++i) EXPECT_NEAR(again[i], last_whole[i], tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ForwardPass, ::testing::Values("llama", "qwen2", "qwen3"));

TEST(ModelContext, RefusesTokensOutsideTheVocabularyAndContextOverflow) {
  TinySpec spec;
  spec.context = 8;
  auto model = LoadFromBytes(WriteTinyModel(MakeTinyModel(spec)));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto context = ModelContext::Create(*model);
  ASSERT_TRUE(context.ok());
  EXPECT_EQ((*context)->context_size(), 8);
  std::vector<float> logits;
  std::vector<int32_t> bad = {1, static_cast<int32_t>(spec.vocab)};
  core::Status status = (*context)->Evaluate(bad, LogitsWanted::kLast, &logits);
  EXPECT_EQ(status.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outside the vocabulary"), std::string::npos) << status.message();
  std::vector<int32_t> negative = {-1};
  EXPECT_FALSE((*context)->Evaluate(negative, LogitsWanted::kLast, &logits).ok());
  EXPECT_EQ((*context)->position(), 0);
  std::vector<int32_t> nine(9, 3);
  status = (*context)->Evaluate(nine, LogitsWanted::kLast, &logits);
  EXPECT_EQ(status.code(), core::StatusCode::kResourceExhausted);
  EXPECT_EQ((*context)->position(), 0);
  std::vector<int32_t> eight(8, 3);
  EXPECT_TRUE((*context)->Evaluate(eight, LogitsWanted::kNone, nullptr).ok());
  std::vector<int32_t> one = {3};
  EXPECT_EQ((*context)->Evaluate(one, LogitsWanted::kLast, &logits).code(), core::StatusCode::kResourceExhausted);

  ContextOptions options;
  options.context_size = -1;
  EXPECT_FALSE(ModelContext::Create(*model, options).ok());
  options.context_size = 16;
  options.batch_size = 0;
  EXPECT_FALSE(ModelContext::Create(*model, options).ok());
}

// Each case: what to change, and what the one-line error must say.
struct BadModel {
  std::string name;
  std::function<void(std::vector<Kv>&)> kvs;
  std::function<void(std::vector<testing::Tensor>&)> tensors;
  std::string message;
};

TEST(LanguageModel, ModelsThatDoNotFitTheirArchitectureAreClearErrors) {
  using testing::Str;
  using testing::U32;
  auto drop = [](std::string name) {
    return [name](std::vector<testing::Tensor>& t) {
      std::erase_if(t, [&](const testing::Tensor& x) { return x.name == name; });
    };
  };
  std::vector<BadModel> cases = {
      {"unknown architecture",
       [](auto& k) { k[0] = Str("general.architecture", "mamba"); },
       {},
       "architecture 'mamba' is not supported"},
      {"layer count above the tensors",
       [](auto& k) { k.push_back(U32("llama.block_count", 3)); },
       {},
       "tensor 'blk.2.attn_norm.weight' is missing"},
      {"missing tensor", {}, drop("blk.1.ffn_up.weight"), "tensor 'blk.1.ffn_up.weight' is missing"},
      {"wrong shape",
       {},
       [](auto& t) {
         for (auto& x : t) {
           if (x.name == "blk.0.attn_k.weight") x.dims = {16, 32};
         }
       },
       "'blk.0.attn_k.weight' has shape [16, 32], the architecture needs [32, 16]"},
      {"heads not dividing",
       [](auto& k) { k.push_back(U32("llama.attention.head_count_kv", 3)); },
       {},
       "head_count 4 is not a multiple of head_count_kv 3"},
      {"extra tensor", {}, {}, "tensor 'blk.9.attn_q.weight' is not part of the architecture"},
      {"tied output embedding (valid)", {}, drop("output.weight"), ""},
      {"zero heads",
       [](auto& k) { k.push_back(U32("llama.attention.head_count", 0)); },
       {},
       "'llama.attention.head_count' is 0, outside"},
  };
  for (const BadModel& c : cases) {
    TinyModel tiny = MakeTinyModel(TinySpec{});
    if (c.name == "extra tensor") {
      tiny.tensors["blk.9.attn_q.weight"] = std::vector<float>(32, 0.5f);
      tiny.dims["blk.9.attn_q.weight"] = {32};
    }
    // A key set again replaces the original (GGUF refuses duplicate keys).
    auto edit = [&](std::vector<Kv>& kvs) {
      if (!c.kvs) return;
      const size_t before = kvs.size();
      c.kvs(kvs);
      for (size_t added = before; added < kvs.size(); ++added) {
        const std::string key = testing::KeyOf(kvs[added]);
        for (size_t i = 0; i < before; ++i) {
          if (testing::KeyOf(kvs[i]) == key) kvs[i] = kvs[added];
        }
      }
      kvs.resize(before);
    };
    auto model = LoadFromBytes(WriteTinyModel(tiny, edit, c.tensors));
    if (c.message.empty()) {
      // The tied case: no output.weight is a valid model.
      EXPECT_TRUE(model.ok()) << c.name << ": " << model.status().ToString();
      continue;
    }
    ASSERT_FALSE(model.ok()) << c.name;
    EXPECT_NE(model.status().message().find(c.message), std::string::npos)
        << c.name << ": " << model.status().message();
    EXPECT_EQ(model.status().message().find('\n'), std::string::npos) << c.name;
  }
}

}  // namespace
}  // namespace berth::llm

namespace berth::llm {
namespace {

// Kibibytes of memory this process has locked (VmLck in /proc/self/status).
int64_t LockedKib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t kib = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmLck: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

// --mlock: the mapping is locked while the model lives, or the load fails
// with a message that says how to allow it (a memlock limit too low).
TEST(LanguageModel, MlockLocksTheWholeFileOrSaysWhyNot) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces mlock with a no-op that reports success";
#endif
  const std::string bytes = WriteTinyModel(MakeTinyModel(TinySpec{}));
  const std::string path = ::testing::TempDir() + "/mlock_test.gguf";
  FILE* out = std::fopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), out), bytes.size());
  std::fclose(out);
  const int64_t before = LockedKib();
  ASSERT_GE(before, 0);
  ModelOptions options;
  options.mlock = true;
  {
    auto model = LanguageModel::Open(path, options);
    if (!model.ok()) {
      EXPECT_EQ(model.status().code(), core::StatusCode::kResourceExhausted) << model.status().ToString();
      EXPECT_NE(model.status().message().find("ulimit -l"), std::string::npos) << model.status().ToString();
      std::remove(path.c_str());
      return;
    }
    EXPECT_GE(LockedKib() - before, static_cast<int64_t>(bytes.size() / 1024)) << "the mapping is not locked";
  }
  EXPECT_EQ(LockedKib(), before) << "unmapping the model releases the lock";
  std::remove(path.c_str());
}

}  // namespace
}  // namespace berth::llm
