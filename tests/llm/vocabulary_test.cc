// The vocabulary of a GGUF file: read back, and the malformed vocabularies
// that have crashed loaders before refused with one line.
#include "llm/tokenizer/vocabulary.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gguf_writer.h"

namespace berth::llm {
namespace {

using testing::Bool;
using testing::Floats;
using testing::Gguf;
using testing::I32;
using testing::Ints;
using testing::Kv;
using testing::Str;
using testing::Strings;
using testing::U32;
using testing::Writer;

const std::vector<std::string> kTokens = {"<unk>", "<s>", "</s>", "<0x0A>", "<0xff>", "\xe2\x96\x81the", "a"};

std::vector<Kv> GoodVocabulary() {
  return {Str("tokenizer.ggml.model", "llama"),
          Strings("tokenizer.ggml.tokens", kTokens),
          Floats("tokenizer.ggml.scores", {0, 0, 0, 0, 0, -1, -2}),
          Ints("tokenizer.ggml.token_type", {2, 3, 3, 6, 6, 1, 1}),
          U32("tokenizer.ggml.bos_token_id", 1),
          U32("tokenizer.ggml.eos_token_id", 2),
          U32("tokenizer.ggml.unknown_token_id", 0),
          Bool("tokenizer.ggml.add_bos_token", true)};
}

core::Result<Vocabulary> LoadKvs(const std::vector<Kv>& kvs, std::shared_ptr<GgufFile>* keep) {
  auto bytes = std::make_shared<std::string>(Gguf(
      kvs.size(),
      [&](Writer& w) {
        for (const auto& kv : kvs) kv.write(w);
      },
      {}, ""));
  auto file = GgufFile::Parse(*bytes, "vocab.gguf", bytes);
  if (!file.ok()) return file.status();
  *keep = *file;
  return LoadVocabulary(**file);
}

TEST(Vocabulary, ReadsTokensScoresTypesAndSpecialIds) {
  std::shared_ptr<GgufFile> file;
  auto vocab = LoadKvs(GoodVocabulary(), &file);
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  EXPECT_EQ(vocab->model, "llama");
  EXPECT_EQ(vocab->size(), 7);
  EXPECT_EQ(vocab->tokens[5], "\xe2\x96\x81the");
  EXPECT_FLOAT_EQ(vocab->scores[6], -2);
  EXPECT_EQ(vocab->types[1], TokenType::kControl);
  EXPECT_EQ(vocab->byte_of[3], 0x0A);
  EXPECT_EQ(vocab->byte_of[4], 0xFF);
  EXPECT_EQ(vocab->byte_of[5], -1);
  EXPECT_EQ(vocab->bos, 1);
  EXPECT_EQ(vocab->eos, 2);
  EXPECT_TRUE(vocab->add_bos);
  EXPECT_EQ(vocab->add_bos_token, true);
  EXPECT_FALSE(vocab->add_eos_token.has_value());
  EXPECT_FALSE(vocab->add_space_prefix.has_value());
  EXPECT_FALSE(vocab->fim_pre.has_value());
}

TEST(Vocabulary, ReadsTheKeysTokenizersDecideBy) {
  auto kvs = GoodVocabulary();
  kvs.push_back(Bool("tokenizer.ggml.add_space_prefix", false));
  kvs.push_back(Bool("tokenizer.ggml.add_eos_token", true));
  kvs.push_back(U32("tokenizer.ggml.eom_token_id", 6));
  kvs.push_back(U32("tokenizer.ggml.fim_pre_token_id", 5));
  kvs.push_back(U32("tokenizer.ggml.prefix_token_id", 6));  // the older key wins, as in llama.cpp
  kvs.push_back(U32("tokenizer.ggml.fim_sep_token_id", 4));
  kvs.push_back(Str("general.name", "Phi3"));
  std::shared_ptr<GgufFile> file;
  auto vocab = LoadKvs(kvs, &file);
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  EXPECT_EQ(vocab->add_space_prefix, false);
  EXPECT_EQ(vocab->add_eos_token, true);
  EXPECT_TRUE(vocab->add_eos);
  EXPECT_EQ(vocab->eom, 6);
  EXPECT_EQ(vocab->fim_pre, 6);
  EXPECT_EQ(vocab->fim_sep, 4);
  EXPECT_FALSE(vocab->fim_mid.has_value());
  EXPECT_EQ(vocab->name, "Phi3");
}

TEST(Vocabulary, MalformedVocabulariesAreClearErrors) {
  auto with = [](std::vector<Kv> changes, std::vector<std::string> drop = {}) {
    std::vector<Kv> kvs;
    for (auto& kv : GoodVocabulary()) {
      Writer probe;
      kv.write(probe);
      bool dropped = false;
      for (const auto& key : drop) dropped = dropped || probe.bytes().find(key) != std::string::npos;
      if (!dropped) kvs.push_back(kv);
    }
    for (auto& kv : changes) kvs.push_back(kv);
    return kvs;
  };
  struct Case {
    std::string name;
    std::vector<Kv> kvs;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"scores shorter than tokens", with({Floats("tokenizer.ggml.scores", {0, 0, 0})}, {"tokenizer.ggml.scores"}),
       "has 3 entries for 7 tokens"},
      {"scores of the wrong type",
       with({Ints("tokenizer.ggml.scores", {0, 0, 0, 0, 0, 0, 0})}, {"tokenizer.ggml.scores"}), "array of int32"},
      {"token types longer than tokens",
       with({Ints("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1, 1, 1})}, {"tokenizer.ggml.token_type"}),
       "has 8 entries for 7 tokens"},
      {"token type 9", with({Ints("tokenizer.ggml.token_type", {1, 1, 1, 6, 6, 9, 1})}, {"tokenizer.ggml.token_type"}),
       "token 5 has type 9"},
      {"byte token that is not hex",
       with({Ints("tokenizer.ggml.token_type", {1, 1, 1, 6, 6, 6, 1})}, {"tokenizer.ggml.token_type"}),
       "token 5 is a byte token but its text is not <0xNN>"},
      {"bos id beyond the vocabulary", with({U32("tokenizer.ggml.bos_token_id", 7)}, {"tokenizer.ggml.bos_token_id"}),
       "bos_token_id is 7, outside the vocabulary of 7 tokens"},
      {"negative eos id", with({I32("tokenizer.ggml.eos_token_id", -5)}, {"tokenizer.ggml.eos_token_id"}),
       "eos_token_id is -5"},
      {"add_bos without a bos", with({}, {"tokenizer.ggml.bos_token_id"}), "there is no BOS token"},
      {"tokens not strings", with({Ints("tokenizer.ggml.tokens", {1, 2, 3})}, {"tokenizer.ggml.tokens"}),
       "not an array of strings"},
      {"empty vocabulary", with({Strings("tokenizer.ggml.tokens", {})}, {"tokenizer.ggml.tokens"}), "has 0 tokens"},
      {"fim id beyond the vocabulary", with({U32("tokenizer.ggml.fim_mid_token_id", 70)}),
       "fim_mid_token_id is 70, outside the vocabulary of 7 tokens"},
      {"add_space_prefix not a bool", with({U32("tokenizer.ggml.add_space_prefix", 1)}),
       "add_space_prefix is a uint32, not a bool"},
  };
  for (const auto& c : cases) {
    std::shared_ptr<GgufFile> file;
    auto vocab = LoadKvs(c.kvs, &file);
    ASSERT_FALSE(vocab.ok()) << c.name;
    EXPECT_NE(vocab.status().message().find(c.message), std::string::npos)
        << c.name << ": " << vocab.status().message();
    EXPECT_EQ(vocab.status().message().rfind("vocab.gguf: ", 0), 0u) << c.name;
  }
}

}  // namespace
}  // namespace berth::llm
