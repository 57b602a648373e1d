#include "llm/tokenizer/spm_encoder.h"

#include <queue>

#include "llm/tokenizer/unicode.h"

namespace berth::llm {
namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

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
};

// Highest score first; among equal scores the leftmost.
struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void EncodeSentencePiece(const TokenTable& table, const std::array<int32_t, 256>& byte_tokens, std::string_view text,
                         std::vector<int32_t>* out) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t size = std::min(unicode::SequenceLength(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const size_t index = symbols.size();
    symbols.push_back({index == 0 ? kNone : index - 1, offset + size == text.size() ? kNone : index + 1, offset, size});
    offset += size;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue;
  auto consider = [&](size_t left, size_t right) {
    if (left == kNone || right == kNone) return;
    const size_t size = symbols[left].size + symbols[right].size;
    const int32_t id = table.Find(text.substr(symbols[left].begin, size));
    if (id >= 0) queue.push({left, right, table.score(id), size});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(i - 1, i);
  while (!queue.empty()) {
    const Candidate best = queue.top();
    queue.pop();
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
  for (size_t i = symbols.empty() ? kNone : 0; i != kNone; i = symbols[i].next) {
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
}

}  // namespace berth::llm
