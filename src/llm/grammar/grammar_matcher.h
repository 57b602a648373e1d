// GrammarMatcher: constrained sampling for one sequence. Before each token
// is drawn, FillMask/ApplyMask leave only the tokens that continue a valid
// document (walking the vocabulary's trie together with the automaton,
// pruning a branch at its first impossible byte); after the token is
// chosen, Accept moves the automaton over its bytes.
//
// End of generation: the end-of-generation tokens are allowed exactly when
// the document is complete. Once the top-level value is closed nothing else
// is allowed (no trailing whitespace), so generation ends there; a
// top-level number or literal that could still grow ("1" before "12")
// allows both.
//
// Token budget: with SetTokenBudget(n) (the tokens generation may still
// take, this one included), the mask also drops every token after which the
// document could not be completed in the tokens left (counting one byte a
// token, as every vocabulary berth reads has single-byte tokens for ASCII):
// near the end of the budget, strings close, optional properties are left
// out and arrays stop growing. When no token keeps to the budget (it was
// too small from the start), the budget is ignored for that token.
//
// Thread safety: one matcher per sequence, not shared; the grammar and
// vocabulary it holds are shared and read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/grammar/grammar_vocabulary.h"
#include "llm/grammar/json_automaton.h"
#include "llm/grammar/json_grammar.h"

namespace berth::llm {

class GrammarMatcher {
 public:
  GrammarMatcher(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const GrammarVocabulary> vocabulary);

  // Tokens left, this one included; negative: no budget.
  void SetTokenBudget(int64_t tokens) { budget_ = tokens; }

  // The allowed tokens as a bitmask over the vocabulary (bit i of word
  // i / 64). FailedPrecondition when nothing is allowed (the matcher is
  // finished, or the vocabulary cannot write what the grammar needs).
  core::Status FillMask(std::vector<uint64_t>* allowed);
  // FillMask, then -infinity for the logits of tokens not allowed. The
  // logits span the vocabulary.
  core::Status ApplyMask(std::span<float> logits);
  // Advances over the token; InvalidArgument when it is not allowed (the
  // state is then unchanged). An end-of-generation token finishes.
  core::Status Accept(int32_t token);
  // Advances over text (a prefilled start of the document); false, state
  // unchanged, when the text cannot continue the document.
  bool AcceptBytes(std::string_view bytes);

  // The document is complete: end of generation is allowed.
  bool IsComplete() const;
  // Some byte can still extend the document.
  bool CanContinue() const;
  // An end-of-generation token was accepted.
  bool finished() const { return finished_; }

 private:
  void WalkTrie(const TokenTrie& trie, int64_t tokens_left, std::vector<uint64_t>* allowed);
  bool WithinBudget(const GrammarState& state, int64_t tokens_left) const;
  void AddPlainStringTokens(int32_t room, std::vector<uint64_t>* allowed) const;

  std::shared_ptr<const JsonGrammar> grammar_;
  std::shared_ptr<const GrammarVocabulary> vocabulary_;
  JsonAutomaton automaton_;
  GrammarState state_;
  std::vector<GrammarState> walk_;  // per trie depth, reused
  std::vector<uint64_t> mask_;
  int64_t budget_ = -1;
  bool finished_ = false;
};

}  // namespace berth::llm
