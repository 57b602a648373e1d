#include "llm/tokenizer/bpe_encoder.h"

#include <algorithm>

#include "llm/tokenizer/unicode.h"

namespace berth::llm {
namespace {

constexpr uint64_t kEmpty = ~uint64_t{0};
constexpr size_t kNone = static_cast<size_t>(-1);

uint64_t PairKey(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

uint64_t Mix(uint64_t key) {  // splitmix64's finaliser
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ULL;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebULL;
  return key ^ (key >> 31);
}

}  // namespace

struct BpeEncoder::Symbol {
  size_t prev;
  size_t next;
  int32_t id;  // -1 only for a byte whose character is no token (never merged)
  uint8_t byte;
  size_t size;  // bytes of the word it covers; 0 once merged into the one before
};

struct BpeEncoder::Candidate {
  size_t left;
  size_t right;
  int32_t rank;
  int32_t result;
  size_t size;  // of the joined text: stale once either side changed

  // Heap order: lowest rank first; among equal ranks the leftmost.
  static bool Later(const Candidate& a, const Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

core::Result<BpeEncoder> BpeEncoder::Create(const TokenTable& table, const std::vector<std::string_view>& merges,
                                            bool ignore_merges) {
  BpeEncoder encoder;
  encoder.ignore_merges_ = ignore_merges;
  if (merges.size() > static_cast<size_t>(INT32_MAX / 2)) {
    return core::InvalidArgument("tokenizer.ggml.merges has {} merges", merges.size());
  }
  uint64_t capacity = 16;
  while (capacity < merges.size() + merges.size() / 2) capacity *= 2;
  encoder.merges_.assign(capacity, Merge{kEmpty, 0, 0});
  encoder.mask_ = capacity - 1;
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view merge = merges[rank];
    // llama.cpp splits at the first space after the first character.
    const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos || space + 1 >= merge.size()) {
      return core::InvalidArgument("merge {} ('{}') is not two parts separated by a space", rank, merge);
    }
    const std::string_view left = merge.substr(0, space), right = merge.substr(space + 1);
    joined.assign(left).append(right);
    const int32_t left_id = table.Find(left), right_id = table.Find(right), result = table.Find(joined);
    if (left_id < 0 || right_id < 0 || result < 0) {
      return core::InvalidArgument("merge {} ('{}') names {} that is not a token", rank, merge,
                                   left_id < 0    ? "'" + std::string(left) + "'"
                                   : right_id < 0 ? "'" + std::string(right) + "'"
                                                  : "a result '" + joined + "'");
    }
    encoder.Insert(PairKey(left_id, right_id), static_cast<int32_t>(rank), result);
  }
  for (int b = 0; b < 256; ++b) {
    std::string& c = encoder.byte_char_[b];
    unicode::AppendUtf8(unicode::CodepointOfByte(static_cast<uint8_t>(b)), &c);
    encoder.byte_token_[b] = table.Find(c);
    for (char part : c) {
      const int32_t id = table.Find(std::string_view(&part, 1));
      if (id >= 0) encoder.byte_fallback_[b].push_back(id);
    }
  }
  return encoder;
}

void BpeEncoder::Insert(uint64_t pair, int32_t rank, int32_t result) {
  for (uint64_t slot = Mix(pair) & mask_;; slot = (slot + 1) & mask_) {
    if (merges_[slot].pair == pair) return;  // the first of equal merges counts
    if (merges_[slot].pair == kEmpty) {
      merges_[slot] = {pair, rank, result};
      return;
    }
  }
}

const BpeEncoder::Merge* BpeEncoder::Find(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  const uint64_t pair = PairKey(left, right);
  for (uint64_t slot = Mix(pair) & mask_;; slot = (slot + 1) & mask_) {
    if (merges_[slot].pair == pair) return &merges_[slot];
    if (merges_[slot].pair == kEmpty) return nullptr;
  }
}

void BpeEncoder::Encode(const TokenTable& table, const std::vector<uint32_t>& cps, const std::vector<size_t>& words,
                        std::vector<int32_t>* out) const {
  std::string word;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  size_t start = 0;
  for (size_t n : words) {
    word.clear();
    for (size_t k = start; k < start + n; ++k) unicode::AppendUtf8(cps[k], &word);
    EncodeWord(table, word, &symbols, &heap, out);
    start += n;
  }
}

void BpeEncoder::EncodeWord(const TokenTable& table, std::string_view word, std::vector<Symbol>* symbol_buffer,
                            std::vector<Candidate>* heap, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    std::string text;
    for (char c : word) text += byte_char_[static_cast<uint8_t>(c)];
    if (const int32_t id = table.Find(text); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol>& symbols = *symbol_buffer;
  symbols.resize(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto byte = static_cast<uint8_t>(word[i]);
    symbols[i] = {i == 0 ? kNone : i - 1, i + 1 == word.size() ? kNone : i + 1, byte_token_[byte], byte, 1};
  }
  heap->clear();
  auto consider = [&](size_t left, size_t right) {
    if (left == kNone || right == kNone) return;
    if (const Merge* merge = Find(symbols[left].id, symbols[right].id)) {
      heap->push_back({left, right, merge->rank, merge->result, symbols[left].size + symbols[right].size});
      std::push_heap(heap->begin(), heap->end(), Candidate::Later);
    }
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(i - 1, i);
  while (!heap->empty()) {
    std::pop_heap(heap->begin(), heap->end(), Candidate::Later);
    const Candidate best = heap->back();
    heap->pop_back();
    Symbol& left = symbols[best.left];
    Symbol& right = symbols[best.right];
    if (left.size == 0 || right.size == 0 || left.size + right.size != best.size) continue;
    left.size += right.size;
    left.id = best.result;
    right.size = 0;
    left.next = right.next;
    if (right.next != kNone) symbols[right.next].prev = best.left;
    consider(left.prev, best.left);
    consider(best.left, left.next);
  }
  for (size_t i = 0; i != kNone; i = symbols[i].next) {
    if (symbols[i].id >= 0) {
      out->push_back(symbols[i].id);
    } else {
      const auto& fallback = byte_fallback_[symbols[i].byte];
      out->insert(out->end(), fallback.begin(), fallback.end());
    }
  }
}

}  // namespace berth::llm
