#include "llm/tokenizer/spm_encoder.h"

#include <algorithm>

#include "llm/tokenizer/unicode.h"

namespace berth::llm {
namespace {

constexpr size_t kNone = static_cast<size_t>(-1);
constexpr std::string_view kSpaceMark = "\xe2\x96\x81";

// A piece of the text: [begin, begin + size), linked to its neighbours.
// size 0 marks a piece merged into the one before it.
struct Symbol {
  size_t prev;
  size_t next;
  size_t begin;
  size_t size;
};

struct Candidate {
  size_t left;
  size_t right;
  float score;
  size_t size;  // of the joined text: a candidate is stale once either side changed

  // Heap order: highest score first; among equal scores the leftmost.
  static bool Lower(const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

bool SpacesOnlyLead(const TokenTable& table) {
  for (int32_t id = 0; id < table.size(); ++id) {
    std::string_view text = table.text(id);
    while (text.substr(0, kSpaceMark.size()) == kSpaceMark) text.remove_prefix(kSpaceMark.size());
    if (text.find(kSpaceMark) != std::string_view::npos) return false;
  }
  return true;
}

void EncodeSentencePiece(const TokenTable& table, const std::array<int32_t, 256>& byte_tokens, bool split_at_spaces,
                         std::string_view text, std::vector<int32_t>* out) {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  auto consider = [&](size_t left, size_t right) {
    if (left == kNone || right == kNone) return;
    const size_t size = symbols[left].size + symbols[right].size;
    const int32_t id = table.Find(text.substr(symbols[left].begin, size));
    if (id < 0) return;
    heap.push_back({left, right, table.score(id), size});
    std::push_heap(heap.begin(), heap.end(), Candidate::Lower);
  };
  // Merges the symbols gathered so far, then appends their tokens.
  auto encode = [&]() {
    if (symbols.empty()) return;
    for (size_t i = 0; i < symbols.size(); ++i) {
      symbols[i].prev = i == 0 ? kNone : i - 1;
      symbols[i].next = i + 1 == symbols.size() ? kNone : i + 1;
    }
    heap.clear();
    for (size_t i = 1; i < symbols.size(); ++i) consider(i - 1, i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), Candidate::Lower);
      const Candidate best = heap.back();
      heap.pop_back();
      Symbol& left = symbols[best.left];
      Symbol& right = symbols[best.right];
      if (left.size == 0 || right.size == 0 || left.size + right.size != best.size) continue;
      left.size += right.size;
      right.size = 0;
      left.next = right.next;
      if (right.next != kNone) symbols[right.next].prev = best.left;
      consider(left.prev, best.left);
      consider(best.left, left.next);
    }
    for (size_t i = 0; i != kNone; i = symbols[i].next) {
      const std::string_view piece = text.substr(symbols[i].begin, symbols[i].size);
      const int32_t id = table.Find(piece);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      for (char c : piece) {
        const int32_t byte = byte_tokens[static_cast<uint8_t>(c)];
        if (byte >= 0) out->push_back(byte);
      }
    }
    symbols.clear();
  };
  // The text is split into UTF-8 characters. Where no token joins anything
  // to a following ▁, each ▁ that ends a word starts a part merged on its
  // own: the same tokens (no candidate pair spans the cut, and the merge
  // order within a part is the global order restricted to it), small
  // queues and buffers.
  bool after_space = false;
  for (size_t offset = 0; offset < text.size();) {
    const size_t size = std::min(unicode::SequenceLength(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const bool space = text.substr(offset, size) == kSpaceMark;
    if (split_at_spaces && space && !after_space) encode();
    symbols.push_back({kNone, kNone, offset, size});
    after_space = space;
    offset += size;
  }
  encode();
}

}  // namespace berth::llm
