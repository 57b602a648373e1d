// GrammarConstraint: a GrammarMatcher as the scheduler's TokenConstraint,
// so a served sequence's output always parses and fits its JSON schema.
#pragma once

#include <memory>
#include <vector>

#include "llm/grammar/grammar_matcher.h"
#include "llm/serving/sequence_scheduler.h"

namespace berth::llm {

class GrammarConstraint : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const GrammarVocabulary> vocabulary)
      : matcher_(std::move(grammar), std::move(vocabulary)) {}

  void SetTokenBudget(int64_t tokens) override { matcher_.SetTokenBudget(tokens); }
  core::Status FillMask(std::vector<uint64_t>* allowed) override { return matcher_.FillMask(allowed); }
  core::Status Accept(int32_t token) override { return matcher_.Accept(token); }
  bool Finished() const override { return matcher_.finished() || (matcher_.IsComplete() && !matcher_.CanContinue()); }

 private:
  GrammarMatcher matcher_;
};

}  // namespace berth::llm
