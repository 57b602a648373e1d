// Small vocabularies of each tokenizer family, built in memory, for the
// tokenizer tests and its fuzz target (no GGUF file involved).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llm/tokenizer/vocabulary.h"

namespace berth::llm::testing {

// A Vocabulary with the storage its views point into.
struct OwnedVocabulary {
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  Vocabulary vocab;

  void Add(std::string text, TokenType type = TokenType::kNormal, float score = 0) {
    tokens.push_back(std::move(text));
    vocab.types.push_back(type);
    vocab.scores.push_back(score);
  }
  // Points the views at the storage; call once everything is added.
  const Vocabulary& Finish() {
    vocab.tokens.assign(tokens.begin(), tokens.end());
    vocab.merges.assign(merges.begin(), merges.end());
    vocab.byte_of.assign(tokens.size(), -1);
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (vocab.types[i] == TokenType::kByte)
        vocab.byte_of[i] = static_cast<int16_t>(std::stoi(tokens[i].substr(3, 2), nullptr, 16));
    }
    return vocab;
  }
};

// SentencePiece: <unk> <s> </s>, the 256 byte tokens, then words.
inline std::unique_ptr<OwnedVocabulary> TinySentencePiece() {
  auto v = std::make_unique<OwnedVocabulary>();
  v->vocab.model = "llama";
  v->Add("<unk>", TokenType::kUnknown);
  v->Add("<s>", TokenType::kControl);
  v->Add("</s>", TokenType::kControl);
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) v->Add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", TokenType::kByte);
  const std::pair<const char*, float> words[] = {{"\xe2\x96\x81", -1},
                                                 {"h", -5},
                                                 {"e", -5},
                                                 {"l", -5},
                                                 {"o", -5},
                                                 {"w", -5},
                                                 {"r", -5},
                                                 {"d", -5},
                                                 {"\xe2\x96\x81h", -3},
                                                 {"he", -4},
                                                 {"ll", -3},
                                                 {"\xe2\x96\x81he", -2},
                                                 {"\xe2\x96\x81hell", -2},
                                                 {"\xe2\x96\x81hello", -1},
                                                 {"\xe2\x96\x81w", -3},
                                                 {"or", -3},
                                                 {"\xe2\x96\x81wor", -2},
                                                 {"ld", -3},
                                                 {"\xe2\x96\x81world", -1},
                                                 {"\xe2\x96\x81\xe2\x96\x81", -2},
                                                 {"\xc3\xa9", -4},
                                                 {",", -4}};
  for (const auto& [text, score] : words) v->Add(text, TokenType::kNormal, score);
  v->Add("<|user|>", TokenType::kUserDefined);
  v->Add("<|ctrl|>", TokenType::kControl);
  v->vocab.bos = 1;
  v->vocab.eos = 2;
  v->vocab.unk = 0;
  v->vocab.add_bos = true;
  v->vocab.add_bos_token = true;
  return v;
}

// Byte-level BPE: GPT-2's 256 byte characters (in byte order), merges that
// build " hello" and " world", and two special tokens.
inline std::unique_ptr<OwnedVocabulary> TinyBytePairs(std::string pre = "gpt-2") {
  auto v = std::make_unique<OwnedVocabulary>();
  v->vocab.model = "gpt2";
  v->vocab.pre = std::move(pre);
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : next++;
    std::string text;
    if (cp < 0x80) {
      text.push_back(static_cast<char>(cp));
    } else {
      text.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      text.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    v->Add(text);
  }
  const char* merges[][2] = {{"\xc4\xa0", "h"}, {"e", "l"},  {"\xc4\xa0h", "el"}, {"l", "o"}, {"\xc4\xa0hel", "lo"},
                             {"\xc4\xa0", "w"}, {"o", "r"},  {"\xc4\xa0w", "or"}, {"l", "d"}, {"\xc4\xa0wor", "ld"},
                             {"1", "2"},        {"12", "3"}, {"'", "s"}};
  for (const auto& m : merges) {
    v->merges.push_back(std::string(m[0]) + " " + m[1]);
    v->Add(std::string(m[0]) + m[1]);
  }
  v->Add("<|endoftext|>", TokenType::kControl);
  v->Add("<|im_start|>", TokenType::kUserDefined);
  const int32_t eot = static_cast<int32_t>(v->tokens.size()) - 2;
  v->vocab.bos = eot;
  v->vocab.eos = eot;
  return v;
}

}  // namespace berth::llm::testing
