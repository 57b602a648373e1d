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

// Whether ▁ appears in tokens only as a leading run (no token joins
// anything to a following ▁): then the text can be merged word by word.
bool SpacesOnlyLead(const TokenTable& table);

// `byte_tokens[b]`: the token for byte b (-1: the byte is dropped).
// `split_at_spaces`: SpacesOnlyLead(table).
void EncodeSentencePiece(const TokenTable& table, const std::array<int32_t, 256>& byte_tokens, bool split_at_spaces,
                         std::string_view text, std::vector<int32_t>* out);

}  // namespace berth::llm
