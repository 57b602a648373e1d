#include "llm/grammar/json_grammar.h"

#include <algorithm>

namespace berth::llm {
namespace {

constexpr int32_t kUnreachable = 1 << 28;

void SetByte(uint64_t* bits, uint8_t byte) { bits[byte >> 6] |= uint64_t{1} << (byte & 63); }

int32_t AddCapped(int64_t a, int64_t b) { return static_cast<int32_t>(std::min<int64_t>(a + b, kUnreachable)); }

}  // namespace

bool JsonGrammar::StartsWith(int32_t index, uint8_t byte) const {
  return (node(index).first_bytes[byte >> 6] >> (byte & 63)) & 1;
}

int32_t JsonGrammar::NodeForFirstByte(int32_t index, uint8_t byte) const {
  const GrammarNode& n = node(index);
  if (!StartsWith(index, byte)) return -1;
  if (n.kind != GrammarNodeKind::kAlternatives) return index;
  for (int32_t i = 0; i < n.count; ++i) {
    if (StartsWith(child(index, i), byte)) return child(index, i);
  }
  return -1;
}

void JsonGrammar::Finish() {
  for (GrammarNode& n : nodes_) {
    std::fill(std::begin(n.first_bytes), std::end(n.first_bytes), 0);
    switch (n.kind) {
      case GrammarNodeKind::kObject:
      case GrammarNodeKind::kFreeObject:
        SetByte(n.first_bytes, '{');
        break;
      case GrammarNodeKind::kArray:
        SetByte(n.first_bytes, '[');
        break;
      case GrammarNodeKind::kString:
        SetByte(n.first_bytes, '"');
        break;
      case GrammarNodeKind::kNumber:
      case GrammarNodeKind::kInteger:
        for (char c : std::string_view("-0123456789")) SetByte(n.first_bytes, static_cast<uint8_t>(c));
        break;
      case GrammarNodeKind::kLiterals:
        for (const std::string& text : literal_sets_[static_cast<size_t>(n.first)].texts)
          SetByte(n.first_bytes, static_cast<uint8_t>(text[0]));
        break;
      case GrammarNodeKind::kAlternatives:
        break;
    }
    n.min_bytes = kUnreachable;
  }
  for (GrammarNode& n : nodes_) {
    if (n.kind != GrammarNodeKind::kAlternatives) continue;
    for (int32_t i = 0; i < n.count; ++i) {
      const GrammarNode& c = nodes_[static_cast<size_t>(children_[static_cast<size_t>(n.first + i)])];
      for (int w = 0; w < 4; ++w) n.first_bytes[w] |= c.first_bytes[w];
    }
  }
  // Shortest values: a fixed point, as nodes may refer to each other (the "any value" node does).
  for (bool changed = true; changed;) {
    changed = false;
    for (GrammarNode& n : nodes_) {
      int32_t shortest = kUnreachable;
      switch (n.kind) {
        case GrammarNodeKind::kObject: {
          int32_t suffix = 0;
          bool any_required = false;
          for (int32_t i = n.count - 1; i >= 0; --i) {
            GrammarProperty& p = properties_[static_cast<size_t>(n.first + i)];
            if (p.required) {
              suffix = AddCapped(suffix, int64_t{2} + p.key_bytes + node(p.node).min_bytes);
              any_required = true;
            }
            p.suffix_bytes = suffix;
          }
          shortest = AddCapped(suffix, any_required ? 1 : 2);
          break;
        }
        case GrammarNodeKind::kFreeObject:
          shortest = 2;
          break;
        case GrammarNodeKind::kArray:
          shortest = AddCapped(int64_t{n.min_count} * (node(n.item).min_bytes + 1), n.min_count > 0 ? 1 : 2);
          break;
        case GrammarNodeKind::kString:
          shortest = 2 + n.min_count;
          break;
        case GrammarNodeKind::kNumber:
        case GrammarNodeKind::kInteger:
          shortest = 1;
          break;
        case GrammarNodeKind::kLiterals:
          for (const std::string& text : literal_sets_[static_cast<size_t>(n.first)].texts)
            shortest = std::min(shortest, static_cast<int32_t>(text.size()));
          break;
        case GrammarNodeKind::kAlternatives:
          for (int32_t i = 0; i < n.count; ++i)
            shortest = std::min(shortest, node(child(static_cast<int32_t>(&n - nodes_.data()), i)).min_bytes);
          break;
      }
      if (shortest < n.min_bytes) {
        n.min_bytes = shortest;
        changed = true;
      }
    }
  }
}

}  // namespace berth::llm
