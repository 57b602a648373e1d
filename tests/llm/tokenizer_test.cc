// The tokenizers against llama.cpp's own golden vectors (the vocab-only GGUF
// files of its test suite, from `make llm-ref`), round trips, streaming
// decoding, malformed vocabularies, and long inputs.
#include "llm/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/utf8.h"
#include "llm/gguf/gguf_file.h"
#include "llm/tokenizer/stream_decoder.h"
#include "tiny_vocabulary.h"

namespace berth::llm {
namespace {

using testing::OwnedVocabulary;
using testing::TinyBytePairs;
using testing::TinySentencePiece;

std::filesystem::path VocabDir() {
  if (const char* dir = std::getenv("BERTH_LLAMA_VOCAB_DIR")) return dir;
  return BERTH_LLAMA_VOCAB_DIR;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<Tokenizer> MakeTokenizer(const Vocabulary& vocab) {
  auto tokenizer = Tokenizer::Create(vocab);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

// ---- llama.cpp's golden vectors ----

// test-tokenizer-0's cases: inputs separated by "\n__ggml_vocab_test__\n",
// one line of ids per input (add_special and parse_special false). Like
// test-tokenizer-0 they go through a map: a repeated input counts once.
std::map<std::string, std::vector<int32_t>> ReadGolden(const std::filesystem::path& base) {
  const std::string inputs = ReadFile(base.string() + ".inp");
  std::vector<std::string> texts;
  const std::string separator = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < inputs.size();) {
    size_t next = inputs.find(separator, pos);
    if (next == std::string::npos) next = inputs.size();
    texts.push_back(inputs.substr(pos, next - pos));
    pos = next == inputs.size() ? next : next + separator.size();
  }
  std::ifstream out(base.string() + ".out");
  std::map<std::string, std::vector<int32_t>> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    std::vector<int32_t> ids;
    std::istringstream words(line);
    for (int32_t id; words >> id;) ids.push_back(id);
    if (i < texts.size()) cases[texts[i]] = ids;
  }
  EXPECT_EQ(cases.size(), std::set<std::string>(texts.begin(), texts.end()).size()) << base;
  return cases;
}

struct LoadedVocabulary {
  std::shared_ptr<GgufFile> file;
  Vocabulary vocab;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Loads ggml-vocab-<name>.gguf, or skips the test when the reference files
// are not installed.
std::optional<LoadedVocabulary> LoadReference(const std::string& name) {
  const auto path = VocabDir() / ("ggml-vocab-" + name + ".gguf");
  if (!std::filesystem::exists(path)) return std::nullopt;
  LoadedVocabulary loaded;
  auto file = GgufFile::Open(path.string());
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return std::nullopt;
  loaded.file = *file;
  auto vocab = LoadVocabulary(*loaded.file);
  EXPECT_TRUE(vocab.ok()) << vocab.status().ToString();
  if (!vocab.ok()) return std::nullopt;
  loaded.vocab = *vocab;
  loaded.tokenizer = MakeTokenizer(loaded.vocab);
  if (!loaded.tokenizer) return std::nullopt;
  return loaded;
}

#define LOAD_OR_SKIP(var, name)                                                                                  \
  auto var = LoadReference(name);                                                                                \
  if (!var) {                                                                                                    \
    if (!::testing::Test::HasFailure())                                                                          \
      GTEST_SKIP() << "no " << (VocabDir() / ("ggml-vocab-" + std::string(name) + ".gguf")).string()             \
                   << ": run `make llm-ref` (scripts/install-llama-ref.sh) to install llama.cpp's vocabularies"; \
    return;                                                                                                      \
  }

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

class GoldenVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenVectors, EveryCaseMatchesLlamaCpp) {
  LOAD_OR_SKIP(loaded, GetParam());
  const auto cases = ReadGolden(VocabDir() / ("ggml-vocab-" + GetParam() + ".gguf"));
  ASSERT_FALSE(cases.empty());
  int passed = 0;
  for (const auto& [text, expected] : cases) {
    const auto ids = loaded->tokenizer->Encode(text, false, false);
    EXPECT_EQ(ids, expected) << "'" << text << "'\n got:      " << Show(ids) << "\n expected: " << Show(expected);
    passed += ids == expected;
  }
  std::printf("[ golden   ] %s: %d of %zu\n", GetParam().c_str(), passed, cases.size());
}

// Decode(Encode(text)) gives the text back, except where llama.cpp's own
// decoding does not: BPE vocabularies with clean_up_tokenization_spaces
// drop the space before , . ? ! and in " 's" and the like, and " ' "
// loses both spaces; those inputs are skipped for them.
TEST_P(GoldenVectors, DecodeGivesTheTextBack) {
  LOAD_OR_SKIP(loaded, GetParam());
  const auto cases = ReadGolden(VocabDir() / ("ggml-vocab-" + GetParam() + ".gguf"));
  const Tokenizer& t = *loaded->tokenizer;
  // Whether the decoder cleans up spaces: " ," comes back as ",".
  const bool cleans = t.Decode(t.Encode("a ,", false, false)) == "a,";
  int checked = 0;
  for (const auto& [text, expected] : cases) {
    if (cleans) {
      bool affected = false;
      for (const char* pattern : {" ?", " !", " .", " ,", " '"}) affected |= text.find(pattern) != std::string::npos;
      if (affected) continue;
    }
    EXPECT_EQ(t.Decode(t.Encode(text, false, false)), text);
    ++checked;
  }
  EXPECT_GT(checked, static_cast<int>(cases.size()) / 2);
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, GoldenVectors,
                         ::testing::Values("llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "qwen35", "starcoder",
                                           "refact", "command-r", "mpt", "falcon", "deepseek-coder", "deepseek-llm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// ---- behaviour on the reference vocabularies ----

TEST(Tokenizer, SentencePieceAddsBosAndALeadingSpace) {
  LOAD_OR_SKIP(loaded, "llama-spm");
  const Tokenizer& t = *loaded->tokenizer;
  EXPECT_TRUE(t.adds_bos());
  const auto ids = t.Encode("Hello world", true, false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], t.bos());
  EXPECT_EQ(t.TokenPiece(ids[1]), " Hello");
  EXPECT_EQ(t.Decode(t.Encode("Hello world", false, false)), "Hello world");
  // llama.cpp's detokenize keeps the space when the BOS token comes first.
  EXPECT_EQ(t.Decode(ids), " Hello world");
  EXPECT_EQ(t.TokenPiece(t.bos()), "");
  EXPECT_EQ(t.TokenPiece(t.bos(), true), "<s>");
  // parse_special: "<s>" written in the text is the BOS token, and the text
  // after it gets a space again.
  const auto parsed = t.Encode("<s>Hi", false, true);
  ASSERT_GE(parsed.size(), 2u);
  EXPECT_EQ(parsed[0], t.bos());
  EXPECT_EQ(t.TokenPiece(parsed[1]).front(), ' ');
  EXPECT_NE(t.Encode("<s>Hi", false, false)[0], t.bos());
}

TEST(Tokenizer, SentencePieceFallsBackToBytes) {
  LOAD_OR_SKIP(loaded, "llama-spm");
  const Tokenizer& t = *loaded->tokenizer;
  // U+1F999 is no token in Llama 2's vocabulary: four byte tokens.
  const auto ids = t.Encode("\xf0\x9f\xa6\x99", false, false);
  ASSERT_EQ(ids.size(), 5u);  // "▁" then the bytes
  EXPECT_EQ(t.TokenPiece(ids[1]), "\xf0");
  EXPECT_EQ(t.TokenPiece(ids[4]), "\x99");
}

TEST(Tokenizer, Llama3AddsBosWithoutTheKeyAndIgnoresMerges) {
  LOAD_OR_SKIP(loaded, "llama-bpe");
  const Tokenizer& t = *loaded->tokenizer;
  EXPECT_FALSE(loaded->vocab.add_bos_token.has_value());
  EXPECT_TRUE(t.adds_bos());
  EXPECT_EQ(t.bos(), 128000);
  EXPECT_EQ(t.Encode("Hello", true, false), (std::vector<int32_t>{128000, 9906}));
  EXPECT_TRUE(t.IsEndOfGeneration(128001));  // <|end_of_text|>
  EXPECT_TRUE(t.IsEndOfGeneration(128009));  // <|eot_id|>
  EXPECT_FALSE(t.IsEndOfGeneration(9906));
  // Control tokens are text unless parse_special.
  EXPECT_EQ(t.Encode("<|eot_id|>", false, true), (std::vector<int32_t>{128009}));
  EXPECT_GT(t.Encode("<|eot_id|>", false, false).size(), 1u);
}

TEST(Tokenizer, AttributesAsLlamaCppSetsThem) {
  LOAD_OR_SKIP(qwen, "qwen2");
  const Tokenizer& q = *qwen->tokenizer;
  // Qwen 2's vocabulary has "</s>" as a normal token; llama.cpp takes that
  // text for an end-of-generation token and makes it a control token: no
  // text unless asked for, plain text unless parse_special.
  const int32_t s_end = 128247;
  EXPECT_EQ(q.TokenPiece(s_end, true), "</s>");
  EXPECT_EQ(q.Attributes(s_end), kAttrNormal | kAttrControl);
  EXPECT_TRUE(q.IsEndOfGeneration(s_end));
  EXPECT_EQ(q.TokenPiece(s_end), "");
  EXPECT_EQ(q.Encode("</s>", false, true), (std::vector<int32_t>{s_end}));
  EXPECT_GT(q.Encode("</s>", false, false).size(), 1u);
  // User-defined tokens are split out even without parse_special.
  EXPECT_EQ(q.Attributes(151646), kAttrUserDefined);
  EXPECT_EQ(q.Encode("a[PAD151646]", false, false).back(), 151646);
  EXPECT_EQ(q.Attributes(-1), 0);

  // Phi-3 (by its model name): whitespace after its special tokens is dropped.
  LOAD_OR_SKIP(phi, "phi-3");
  const Tokenizer& p = *phi->tokenizer;
  const int32_t user = p.Encode("<|user|>", false, true)[0];
  EXPECT_TRUE(p.Attributes(user) & kAttrRstrip);
  EXPECT_EQ(p.Encode("<|user|>\n  Hello", false, true), p.Encode("<|user|>Hello", false, true));
  EXPECT_FALSE(p.Attributes(p.bos()) & kAttrRstrip);
}

TEST(Tokenizer, PiecesDecodeTheByteAlphabet) {
  LOAD_OR_SKIP(loaded, "gpt-2");
  const Tokenizer& t = *loaded->tokenizer;
  const auto ids = t.Encode(" caf\xc3\xa9\n\ttab", false, false);
  std::string joined;
  for (int32_t id : ids) joined += t.TokenPiece(id);
  EXPECT_EQ(joined, " caf\xc3\xa9\n\ttab");
  EXPECT_EQ(t.TokenPiece(-1), "");
  EXPECT_EQ(t.TokenPiece(t.size()), "");
  // GPT-2's decoder drops the space before punctuation.
  EXPECT_EQ(t.Decode(t.Encode("Hi , there !", false, false)), "Hi, there!");
}

// ---- tiny built-in vocabularies ----

TEST(Tokenizer, TinySentencePiece) {
  auto owned = TinySentencePiece();
  auto t = MakeTokenizer(owned->Finish());
  ASSERT_TRUE(t);
  const int32_t hello = t->Encode("hello", false, false)[0];
  EXPECT_EQ(t->TokenPiece(hello), " hello");
  EXPECT_EQ(t->Encode("hello world", true, false).size(), 3u);
  // 'z' is no token: its byte token.
  const auto z = t->Encode("z", false, false);
  ASSERT_EQ(z.size(), 2u);
  EXPECT_EQ(t->TokenPiece(z[1]), "z");
  // User-defined tokens are split out even without parse_special; control
  // tokens only with it.
  const auto user = t->Encode("hello<|user|>hello", false, false);
  ASSERT_EQ(user.size(), 3u);
  EXPECT_EQ(t->TokenPiece(user[1]), "<|user|>");
  EXPECT_EQ(t->Decode(user), "hello<|user|> hello");
  EXPECT_EQ(t->Encode("<|ctrl|>", false, true).size(), 1u);
  EXPECT_GT(t->Encode("<|ctrl|>", false, false).size(), 1u);
  EXPECT_EQ(t->Encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(t->Encode("", false, false).empty());
}

TEST(Tokenizer, AddSpacePrefixCanBeTurnedOff) {
  auto owned = TinySentencePiece();
  owned->vocab.add_space_prefix = false;
  auto t = MakeTokenizer(owned->Finish());
  ASSERT_TRUE(t);
  const auto ids = t->Encode("hello", false, false);
  EXPECT_EQ(t->Decode(ids), "hello");
  EXPECT_NE(t->TokenPiece(ids[0]).front(), ' ');
}

TEST(Tokenizer, TinyBytePairs) {
  auto owned = TinyBytePairs();
  auto t = MakeTokenizer(owned->Finish());
  ASSERT_TRUE(t);
  const auto ids = t->Encode(" hello world", false, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(t->TokenPiece(ids[0]), " hello");
  EXPECT_EQ(t->TokenPiece(ids[1]), " world");
  EXPECT_EQ(t->Encode("123", false, false).size(), 1u);
  EXPECT_EQ(t->Encode("it's", false, false).size(), 3u);  // i, t, 's
  // Invalid UTF-8 is read as llama.cpp reads it: U+FFFD.
  const auto bad = t->Encode("\xff", false, false);
  EXPECT_EQ(t->Decode(bad), "\xef\xbf\xbd");
  EXPECT_FALSE(t->adds_bos());
}

// ---- streaming ----

TEST(StreamDecoder, NeverSplitsACharacter) {
  auto owned = TinySentencePiece();
  auto t = MakeTokenizer(owned->Finish());
  ASSERT_TRUE(t);
  // Characters with no token of their own: byte tokens, one per byte.
  const std::string text = "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 \xc3\xa9\xc3\xbc";
  const auto ids = t->Encode(text, false, false);
  EXPECT_GT(ids.size(), 20u);
  StreamDecoder stream(*t);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = stream.Push(id);
    EXPECT_TRUE(core::IsValidUtf8(piece)) << "token " << id;
    all += piece;
  }
  all += stream.Flush();
  EXPECT_EQ(all, " " + text);
}

TEST(StreamDecoder, ReplacesInvalidBytesAndFlushesIncompleteOnes) {
  auto owned = TinySentencePiece();
  auto t = MakeTokenizer(owned->Finish());
  ASSERT_TRUE(t);
  StreamDecoder stream(*t);
  EXPECT_EQ(stream.PushBytes("a\xe2\x82"), "a");
  EXPECT_EQ(stream.pending(), 2u);
  EXPECT_EQ(stream.PushBytes("\xac"), "\xe2\x82\xac");
  EXPECT_EQ(stream.PushBytes("\xff"), "\xef\xbf\xbd");                                  // never valid
  EXPECT_EQ(stream.PushBytes("\xe2\x82z"), "\xef\xbf\xbdz");                            // cut short: one U+FFFD
  EXPECT_EQ(stream.PushBytes("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(stream.PushBytes("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
  EXPECT_EQ(stream.PushBytes("\xf0\x9f"), "");
  EXPECT_EQ(stream.Flush(), "\xef\xbf\xbd");
  EXPECT_EQ(stream.pending(), 0u);
}

TEST(StreamDecoder, EveryByteSplitOfMultibyteText) {
  const std::string text = "z\xc3\xa9\xe2\x82\xac\xf0\x9f\xa6\x99!";
  for (size_t cut1 = 0; cut1 <= text.size(); ++cut1) {
    for (size_t cut2 = cut1; cut2 <= text.size(); ++cut2) {
      auto owned = TinySentencePiece();
      auto t = MakeTokenizer(owned->Finish());
      StreamDecoder stream(*t);
      std::string out = stream.PushBytes(text.substr(0, cut1));
      EXPECT_TRUE(core::IsValidUtf8(out));
      const std::string mid = stream.PushBytes(text.substr(cut1, cut2 - cut1));
      EXPECT_TRUE(core::IsValidUtf8(mid));
      out += mid;
      out += stream.PushBytes(text.substr(cut2));
      out += stream.Flush();
      EXPECT_EQ(out, text) << cut1 << " " << cut2;
    }
  }
}

// ---- malformed vocabularies ----

TEST(Tokenizer, MalformedVocabulariesAreClearErrors) {
  struct Case {
    std::string name;
    std::function<void(OwnedVocabulary&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unsupported model", [](OwnedVocabulary& v) { v.vocab.model = "t5"; },
       "tokenizer.ggml.model 't5' is not supported (supported: llama, gpt2)"},
      {"unsupported pre-tokenizer", [](OwnedVocabulary& v) { v.vocab.pre = "tekken"; },
       "tokenizer.ggml.pre 'tekken' is not supported (supported: default, gpt-2"},
      {"empty token", [](OwnedVocabulary& v) { v.tokens[40] = ""; }, "token 40 has empty text"},
      {"merge without a space", [](OwnedVocabulary& v) { v.merges[2] = "ab"; }, "merge 2 ('ab') is not two parts"},
      {"merge with an empty part", [](OwnedVocabulary& v) { v.merges[0] = "a "; }, "merge 0 ('a ') is not two parts"},
      {"merge of an unknown token", [](OwnedVocabulary& v) { v.merges[1] = "e \xe2\x82\xac"; },
       "merge 1 ('e \xe2\x82\xac') names '\xe2\x82\xac' that is not a token"},
      {"merge with no result token", [](OwnedVocabulary& v) { v.merges[1] = "e z"; },
       "names a result 'ez' that is not a token"},
      {"no merges", [](OwnedVocabulary& v) { v.merges.clear(); }, "without tokenizer.ggml.merges"},
      {"BOS added but absent",
       [](OwnedVocabulary& v) {
         v.vocab.add_bos_token = true;
         v.vocab.bos = std::nullopt;
         v.vocab.pre = "chatglm-bpe";
       },
       "adds a BOS token but has none"},
  };
  for (const auto& c : cases) {
    auto owned = TinyBytePairs();
    c.change(*owned);
    auto tokenizer = Tokenizer::Create(owned->Finish());
    ASSERT_FALSE(tokenizer.ok()) << c.name;
    EXPECT_NE(tokenizer.status().message().find(c.message), std::string::npos)
        << c.name << ": " << tokenizer.status().message();
  }
}

// ---- long inputs ----

// Quadratic behaviour on long runs would take minutes here and run into
// ctest's timeout; the test itself times nothing (make test shares the
// machine), it checks that every long run is tokenized whole.
TEST(Tokenizer, LongRunsAreTokenizedWhole) {
  const std::string spaces(1 << 20, ' ');
  const std::string word(1 << 20, 'a');
  std::string mixed;
  while (mixed.size() < (1 << 20)) mixed += "it's  12345\n\n\t \xe4\xbd\xa0\xe5\xa5\xbd, hello  world!! ";
  for (auto make :
       {TinySentencePiece, +[] { return TinyBytePairs("llama-bpe"); }, +[] { return TinyBytePairs("qwen2"); },
        +[] { return TinyBytePairs("default"); }, +[] { return TinyBytePairs("deepseek-coder"); }}) {
    auto owned = make();
    auto t = MakeTokenizer(owned->Finish());
    ASSERT_TRUE(t);
    for (const std::string* text : std::vector<const std::string*>{&spaces, &word, &mixed}) {
      const auto ids = t->Encode(*text, false, false);
      EXPECT_FALSE(ids.empty()) << owned->vocab.model << " " << owned->vocab.pre;
    }
  }
}

}  // namespace
}  // namespace berth::llm
