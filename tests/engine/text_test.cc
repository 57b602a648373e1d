// StringNormalizer and TfIdfVectorizer beyond the conformance cases:
// case-insensitive stop words, non-ASCII case mapping, malformed UTF-8, the
// empty result, string pools, IDF/TFIDF weighting, int32 input, and the
// attribute checks made at load time.
#include <gtest/gtest.h>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::Tensor;

std::vector<std::string> Values(const Tensor& tensor) {
  auto span = tensor.values<std::string>();
  return {span.begin(), span.end()};
}

TEST(StringNormalizer, CaseInsensitiveStopWordsAndUpperCase) {
  OpTestModel model("StringNormalizer", 10);
  model.Input("x", Strings({"Monday", "tuesday", "MONDAY", "wednesday"}, {1, 4})).Output("y");
  model.Strings("stopwords", {"monday"}).String("case_change_action", "UPPER");
  auto session = model.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto result = model.Run(**session);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ((*result)[0].tensor().shape(), (core::TensorShape{1, 2}));
  EXPECT_EQ(Values((*result)[0].tensor()), (std::vector<std::string>{"TUESDAY", "WEDNESDAY"}));
  // The width depends on the data: inference leaves it unknown.
  EXPECT_EQ((*session)->outputs()[0].type.Shape(), (core::TensorShape{1, -1}));
}

TEST(StringNormalizer, NonAsciiCaseMapping) {
  OpTestModel model("StringNormalizer", 10);
  model.Input("x", Strings({"Straße", "ÉCOLE", "Ωmega"}, {3})).Output("y");
  model.String("case_change_action", "LOWER");
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Values((*result)[0].tensor()), (std::vector<std::string>{"straße", "école", "ωmega"}));
}

TEST(StringNormalizer, EverythingDroppedGivesOneEmptyString) {
  for (bool two_dim : {false, true}) {
    OpTestModel model("StringNormalizer", 10);
    core::TensorShape shape = two_dim ? core::TensorShape{1, 2} : core::TensorShape{2};
    model.Input("x", Strings({"a", "A"}, shape)).Output("y").Strings("stopwords", {"a"});
    auto result = model.Run();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ((*result)[0].tensor().shape(), two_dim ? (core::TensorShape{1, 1}) : (core::TensorShape{1}));
    EXPECT_EQ(Values((*result)[0].tensor()), (std::vector<std::string>{""}));
  }
}

TEST(StringNormalizer, WithoutStopWordsInferenceKnowsTheWidth) {
  OpTestModel model("StringNormalizer", 10);
  model.Input("x", Strings({"a", "b", "c"}, {3})).Output("y");
  auto session = model.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ((*session)->outputs()[0].type.Shape(), (core::TensorShape{3}));
}

TEST(StringNormalizer, Errors) {
  {
    OpTestModel model("StringNormalizer", 10);
    model.Input("x", Strings({"ok", std::string("bad\xC3", 4)}, {2})).Output("y").String("case_change_action", "UPPER");
    auto result = model.Run();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("X[1]: string is not valid UTF-8"), std::string::npos)
        << result.status().message();
  }
  {
    OpTestModel model("StringNormalizer", 10);
    model.Input("x", Strings({"a", "b", "c", "d"}, {2, 2})).Output("y");
    auto result = model.Run();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("[C] or [1, C]"), std::string::npos) << result.status().message();
  }
  {
    OpTestModel model("StringNormalizer", 10);
    model.Input("x", Strings({"a"}, {1})).Output("y").String("case_change_action", "TITLE");
    EXPECT_FALSE(model.Load().ok());
  }
}

// Pool: unigrams "a", "b"; bigrams "a b", "b c".
OpTestModel StringTfIdf(const std::string& mode, const Tensor& x) {
  OpTestModel model("TfIdfVectorizer", 9);
  model.Input("X", x).Output("Y");
  model.Int("min_gram_length", 1).Int("max_gram_length", 2).Int("max_skip_count", 1).String("mode", mode);
  model.Strings("pool_strings", {"a", "b", "a", "b", "b", "c"}).Ints("ngram_counts", {0, 2});
  model.Ints("ngram_indexes", {3, 2, 1, 0}).Floats("weights", {0.5f, 2.0f, 3.0f, 4.0f});
  return model;
}

TEST(TfIdfVectorizer, StringPoolWithEveryWeighting) {
  // Row 0: a b c a b -> unigrams a:2 b:2; bigrams (skip 0) "a b" x2, "b c" x1;
  // skip 1: "a c", "b a", "c b" -> none in the pool.
  // Row 1: a x b -> a:1 b:1; skip 1: "a b" x1.
  Tensor x = Strings({"a", "b", "c", "a", "b", "a", "x", "b", "", ""}, {2, 5});
  struct Case {
    std::string mode;
    std::vector<float> expected;  // columns: 0 = "b c", 1 = "a b", 2 = "b", 3 = "a"
  };
  const Case cases[] = {
      {"TF", {1, 2, 2, 2, 0, 1, 1, 1}},
      {"IDF", {4, 3, 2, 0.5f, 0, 3, 2, 0.5f}},
      {"TFIDF", {4, 6, 4, 1, 0, 3, 2, 0.5f}},
  };
  for (const auto& c : cases) {
    auto model = StringTfIdf(c.mode, x);
    auto session = model.Load();
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    auto result = model.Run(**session);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>(c.expected, {2, 4}), (*result)[0].tensor()).ok())
        << c.mode << ": " << (*result)[0].tensor().DebugString();
    EXPECT_EQ((*session)->outputs()[0].type.Shape(), (core::TensorShape{2, 4}));
  }
}

TEST(TfIdfVectorizer, Int32InputAndOnlyLongerGrams) {
  OpTestModel model("TfIdfVectorizer", 9);
  model.Input("X", Tensor::FromVector<int32_t>({1, 2, 3, 1, 2, 3}, {6})).Output("Y");
  // Only 3-grams count although the pool has unigrams too.
  model.Int("min_gram_length", 3).Int("max_gram_length", 3).Int("max_skip_count", 0).String("mode", "TF");
  model.Ints("pool_int64s", {1, 1, 2, 3, 2, 3, 1}).Ints("ngram_counts", {0, 1, 1}).Ints("ngram_indexes", {0, 1, 2});
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>({0, 2, 1}, {3}), (*result)[0].tensor()).ok())
      << (*result)[0].tensor().DebugString();
}

TEST(TfIdfVectorizer, AttributeErrorsAtLoad) {
  auto base = [] {
    OpTestModel model("TfIdfVectorizer", 9);
    model.Input("X", Tensor::FromVector<int64_t>({1, 2}, {2})).Output("Y");
    model.Int("min_gram_length", 1).Int("max_gram_length", 2).Int("max_skip_count", 0).String("mode", "TF");
    return model;
  };
  {
    auto model = base();  // three entries cannot form whole bigrams
    model.Ints("pool_int64s", {1, 2, 3}).Ints("ngram_counts", {0, 0}).Ints("ngram_indexes", {0});
    auto session = model.Load();
    ASSERT_FALSE(session.ok());
    EXPECT_NE(session.status().message().find("whole 2-grams"), std::string::npos) << session.status().message();
  }
  {
    auto model = base();  // ngram_indexes shorter than the pool
    model.Ints("pool_int64s", {1, 2}).Ints("ngram_counts", {0}).Ints("ngram_indexes", {0});
    EXPECT_FALSE(model.Load().ok());
  }
  {
    auto model = base();  // both pools
    model.Ints("pool_int64s", {1}).Strings("pool_strings", {"a"}).Ints("ngram_counts", {0}).Ints("ngram_indexes", {0});
    EXPECT_FALSE(model.Load().ok());
  }
  {
    auto model = base();
    model.Ints("pool_int64s", {1}).Ints("ngram_counts", {0}).Ints("ngram_indexes", {-1});
    EXPECT_FALSE(model.Load().ok());
  }
  {
    auto model = base();  // string input against an int pool fails at run time
    model.Ints("pool_int64s", {1}).Ints("ngram_counts", {0}).Ints("ngram_indexes", {0});
    model.SetFeed("X", Strings({"a", "b"}, {2}));
    EXPECT_FALSE(model.Run().ok());
  }
}

}  // namespace
}  // namespace berth::engine::testing
