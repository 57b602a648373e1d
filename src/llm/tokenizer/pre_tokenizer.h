// Pre-tokenizers: how byte-level BPE vocabularies split text into words
// before merging, one per family of tokenizer.ggml.pre values.
//
// Each is the chain of regular expressions llama.cpp applies for that type
// (llama-vocab.cpp), with llama.cpp's semantics: every expression splits
// every piece the previous one left, matches and the text between them
// alike. The matchers are written by hand, not run through std::regex: no
// Debian package does llama.cpp-compatible pre-tokenization, std::regex
// knows nothing of Unicode categories and is slow (quadratic on long runs),
// and llama.cpp's own hand-written splitters for the common expressions
// (GPT-2, Llama 3, Qwen 2) deviate from the expressions in small ways that
// have to be reproduced to give the same tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace berth::llm {

enum class PreTokenizerKind {
  kDefault,        // BPE without a pre-tokenizer type (llama.cpp's fallback chain)
  kGpt2,           // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
  kLlama3,         // Llama 3: case-insensitive contractions, \p{N}{1,3}, newlines kept with punctuation
  kQwen2,          // as Llama 3 with single digits
  kQwen35,         // as Qwen 2 with combining marks in words
  kStarcoder,      // \p{N} isolated, then GPT-2
  kFalcon,         // punctuation runs, GPT-2, digit triples
  kDeepseekCoder,  // newlines, words, punctuation, CJK runs, digits
  kDeepseekLlm,    // newlines, cased-letter words, punctuation, trailing spaces, CJK runs, numbers
};

// Splits the code points into words; returns each word's length in code
// points, in order (none zero; they sum to cps.size()). Linear time.
std::vector<size_t> PreTokenize(PreTokenizerKind kind, const std::vector<uint32_t>& cps);

}  // namespace berth::llm
