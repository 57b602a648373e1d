// Fuzz target: arbitrary bytes through the tokenizers. The first byte picks
// a small built-in vocabulary (SentencePiece, or byte-level BPE with one of
// the pre-tokenizers) and the Encode flags; the rest is the text. Checked:
// every id is in the vocabulary, the pre-tokenizer's words cover the text,
// a BPE encoding gives back the (leniently decoded) text piece by piece,
// and streaming decoding gives valid UTF-8 equal to decoding all at once.
// Input that starts with "GGUF" is a vocabulary file instead: read, made a
// tokenizer if it passes the checks, and used on a fixed text.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../llm/tiny_vocabulary.h"
#include "core/utf8.h"
#include "llm/gguf/gguf_file.h"
#include "llm/tokenizer/pre_tokenizer.h"
#include "llm/tokenizer/stream_decoder.h"
#include "llm/tokenizer/tokenizer.h"
#include "llm/tokenizer/unicode.h"

namespace {

using berth::llm::PreTokenizerKind;
using berth::llm::Tokenizer;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Family {
  std::unique_ptr<berth::llm::testing::OwnedVocabulary> vocab;
  std::unique_ptr<Tokenizer> tokenizer;
  PreTokenizerKind kind;
};

const std::vector<Family>& Families() {
  static const std::vector<Family> families = [] {
    std::vector<Family> out;
    auto add = [&](std::unique_ptr<berth::llm::testing::OwnedVocabulary> vocab, PreTokenizerKind kind) {
      auto tokenizer = Tokenizer::Create(vocab->Finish());
      Check(tokenizer.ok());
      out.push_back({std::move(vocab), std::move(*tokenizer), kind});
    };
    add(berth::llm::testing::TinySentencePiece(), PreTokenizerKind::kDefault);
    const std::pair<const char*, PreTokenizerKind> pres[] = {{"gpt-2", PreTokenizerKind::kGpt2},
                                                             {"llama-bpe", PreTokenizerKind::kLlama3},
                                                             {"qwen2", PreTokenizerKind::kQwen2},
                                                             {"qwen35", PreTokenizerKind::kQwen35},
                                                             {"default", PreTokenizerKind::kDefault},
                                                             {"starcoder", PreTokenizerKind::kStarcoder},
                                                             {"falcon", PreTokenizerKind::kFalcon},
                                                             {"deepseek-coder", PreTokenizerKind::kDeepseekCoder},
                                                             {"deepseek-llm", PreTokenizerKind::kDeepseekLlm}};
    for (const auto& [pre, kind] : pres) add(berth::llm::testing::TinyBytePairs(pre), kind);
    return out;
  }();
  return families;
}

void CheckIds(const Tokenizer& t, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) Check(id >= 0 && id < t.size());
}

void CheckStreaming(const Tokenizer& t, const std::vector<int32_t>& ids) {
  berth::llm::StreamDecoder stream(t);
  std::string streamed, all;
  for (int32_t id : ids) {
    const std::string piece = stream.Push(id);
    Check(berth::core::IsValidUtf8(piece));
    streamed += piece;
    all += t.Piece(id);
  }
  const std::string rest = stream.Flush();
  Check(berth::core::IsValidUtf8(rest));
  streamed += rest;
  std::string expected;
  const size_t used = berth::llm::AppendCompleteUtf8(all, &expected);
  if (used < all.size()) expected += "\xef\xbf\xbd";
  Check(streamed == expected);
}

void FuzzVocabularyFile(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<std::string>(reinterpret_cast<const char*>(data), size);
  auto file = berth::llm::GgufFile::Parse(*bytes, "fuzz.gguf", bytes);
  if (!file.ok()) return;
  auto vocab = berth::llm::LoadVocabulary(**file);
  if (!vocab.ok()) return;
  auto tokenizer = Tokenizer::Create(*vocab);
  if (!tokenizer.ok()) return;
  const Tokenizer& t = **tokenizer;
  for (bool special : {false, true}) {
    const auto ids = t.Encode("Hello, world! it's 123 \xe4\xbd\xa0\xe5\xa5\xbd <s>\n\n", special, special);
    CheckIds(t, ids);
    (void)t.Decode(ids, special);
    CheckStreaming(t, ids);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 4 && std::string_view(reinterpret_cast<const char*>(data), 4) == "GGUF") {
    FuzzVocabularyFile(data, size);
    return 0;
  }
  if (size == 0) return 0;
  const auto& families = Families();
  const Family& family = families[data[0] % families.size()];
  const bool add_special = data[0] & 0x40;
  const bool parse_special = data[0] & 0x80;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const Tokenizer& t = *family.tokenizer;

  const std::vector<uint32_t> cps = berth::llm::unicode::DecodeLenient(text);
  size_t covered = 0;
  for (size_t n : berth::llm::PreTokenize(family.kind, cps)) {
    Check(n > 0);
    covered += n;
  }
  Check(covered == cps.size());

  const auto ids = t.Encode(text, add_special, parse_special);
  CheckIds(t, ids);
  if (!t.is_sentencepiece() && !add_special) {
    // Every byte has a token in the tiny BPE vocabulary: the pieces spell
    // out the text as llama.cpp reads it (invalid bytes as U+FFFD).
    std::string spelled, reencoded;
    for (int32_t id : ids) spelled += t.Piece(id, true);
    for (uint32_t cp : cps) berth::llm::unicode::AppendUtf8(cp, &reencoded);
    Check(spelled == reencoded);
  }
  (void)t.Decode(ids, parse_special);
  CheckStreaming(t, ids);
  return 0;
}
