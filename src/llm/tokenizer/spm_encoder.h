// The SentencePiece-style encoder of tokenizer.ggml.model "llama", as
// llama.cpp's llm_tokenizer_spm: the text (spaces already written as ▁) is
// split into UTF-8 characters, then the adjacent pair whose joined text is
// the best-scoring token is merged, again and again (a priority queue of
// candidate pairs, ties to the leftmost); each piece left that is no token
// becomes one byte token per byte.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "llm/tokenizer/token_table.h"

namespace berth::llm {

// `byte_tokens[b]`: the token for byte b (-1: the byte is dropped).
void EncodeSentencePiece(const TokenTable& table, const std::array<int32_t, 256>& byte_tokens, std::string_view text,
                         std::vector<int32_t>* out);

}  // namespace berth::llm
