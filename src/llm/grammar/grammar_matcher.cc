#include "llm/grammar/grammar_matcher.h"

#include <cmath>

namespace berth::llm {
namespace {

void SetBit(std::vector<uint64_t>& mask, int32_t token) {
  mask[static_cast<size_t>(token) / 64] |= uint64_t{1} << (static_cast<uint32_t>(token) % 64);
}

bool AnySet(const std::vector<uint64_t>& mask) {
  for (uint64_t word : mask)
    if (word != 0) return true;
  return false;
}

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const JsonGrammar> grammar,
                               std::shared_ptr<const GrammarVocabulary> vocabulary)
    : grammar_(std::move(grammar)), vocabulary_(std::move(vocabulary)), automaton_(*grammar_) {
  state_ = automaton_.Start();
}

bool GrammarMatcher::WithinBudget(const GrammarState& state, int64_t tokens_left) const {
  return tokens_left < 0 || automaton_.MinBytesToComplete(state) <= tokens_left - 1;
}

void GrammarMatcher::WalkTrie(const TokenTrie& trie, int64_t tokens_left, std::vector<uint64_t>* allowed) {
  if (walk_.size() < trie.max_depth + 1) walk_.resize(trie.max_depth + 1);
  walk_[0] = state_;
  const auto nodes = static_cast<int32_t>(trie.size());
  for (int32_t i = 1; i < nodes;) {
    const size_t depth = trie.depth[static_cast<size_t>(i)];
    GrammarState& state = walk_[depth];
    state = walk_[depth - 1];
    if (!automaton_.Step(state, trie.byte[static_cast<size_t>(i)])) {
      i = trie.subtree_end[static_cast<size_t>(i)];
      continue;
    }
    const int32_t begin = trie.token_begin[static_cast<size_t>(i)];
    const int32_t end = trie.token_begin[static_cast<size_t>(i) + 1];
    if (begin < end && WithinBudget(state, tokens_left)) {
      for (int32_t k = begin; k < end; ++k) SetBit(*allowed, trie.token_ids[static_cast<size_t>(k)]);
    }
    ++i;
  }
}

void GrammarMatcher::AddPlainStringTokens(int32_t room, std::vector<uint64_t>* allowed) const {
  const std::vector<int32_t>& characters = vocabulary_->plain_characters();
  if (room < 0 || (!characters.empty() && characters.back() <= room)) {
    const std::vector<uint64_t>& plain = vocabulary_->plain_mask();
    for (size_t w = 0; w < plain.size(); ++w) (*allowed)[w] |= plain[w];
    return;
  }
  const std::vector<int32_t>& tokens = vocabulary_->plain_tokens();
  for (size_t k = 0; k < tokens.size() && characters[k] <= room; ++k) SetBit(*allowed, tokens[k]);
}

core::Status GrammarMatcher::FillMask(std::vector<uint64_t>* allowed) {
  if (finished_) return core::FailedPrecondition("the document has ended; no token is allowed");
  const size_t words = (static_cast<size_t>(vocabulary_->size()) + 63) / 64;
  for (int64_t tokens_left : {budget_, int64_t{-1}}) {
    allowed->assign(words, 0);
    if (IsComplete()) {
      for (int32_t token : vocabulary_->end_of_generation()) SetBit(*allowed, token);
    }
    int32_t room = 0;
    // Plain text cannot raise the bytes still due by more than an unfinished character's three.
    if (automaton_.InPlainString(state_, &room) &&
        (tokens_left < 0 || automaton_.MinBytesToComplete(state_) + 3 <= tokens_left - 1)) {
      AddPlainStringTokens(room, allowed);
      WalkTrie(vocabulary_->string_special_trie(), tokens_left, allowed);
    } else {
      WalkTrie(vocabulary_->trie(), tokens_left, allowed);
    }
    if (AnySet(*allowed)) return core::Status::Ok();
    if (tokens_left < 0) break;
  }
  return core::FailedPrecondition("no token of the vocabulary continues the document");
}

core::Status GrammarMatcher::ApplyMask(std::span<float> logits) {
  if (logits.size() != static_cast<size_t>(vocabulary_->size())) {
    return core::InvalidArgument("the logits have {} entries, the vocabulary {}", logits.size(), vocabulary_->size());
  }
  RETURN_IF_ERROR(FillMask(&mask_));
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!((mask_[i / 64] >> (i % 64)) & 1)) logits[i] = -INFINITY;
  }
  return core::Status::Ok();
}

core::Status GrammarMatcher::Accept(int32_t token) {
  if (finished_) return core::FailedPrecondition("the document has ended; token {} cannot follow", token);
  if (token < 0 || token >= vocabulary_->size()) {
    return core::InvalidArgument("token {} is outside the vocabulary [0, {})", token, vocabulary_->size());
  }
  if (vocabulary_->IsEndOfGeneration(token)) {
    if (!IsComplete())
      return core::InvalidArgument("end of generation (token {}) before the document is complete", token);
    finished_ = true;
    return core::Status::Ok();
  }
  std::string_view bytes = vocabulary_->bytes(token);
  if (bytes.empty()) return core::InvalidArgument("token {} has no text a document can hold", token);
  if (!AcceptBytes(bytes)) return core::InvalidArgument("token {} does not continue the document", token);
  if (budget_ > 0) --budget_;
  return core::Status::Ok();
}

bool GrammarMatcher::AcceptBytes(std::string_view bytes) {
  GrammarState next = state_;
  if (!automaton_.StepAll(next, bytes)) return false;
  state_ = std::move(next);
  return true;
}

bool GrammarMatcher::IsComplete() const { return !finished_ && automaton_.IsComplete(state_); }

bool GrammarMatcher::CanContinue() const {
  if (finished_) return false;
  GrammarState probe;
  for (int byte = 0; byte < 256; ++byte) {
    probe = state_;
    if (automaton_.Step(probe, static_cast<uint8_t>(byte))) return true;
  }
  return false;
}

}  // namespace berth::llm
