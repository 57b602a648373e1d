// llm_grammar_bench MODEL.gguf...: what constrained sampling costs per
// token (llm/grammar/). For each model's vocabulary: the time to build the
// GrammarVocabulary (tries), then the mask time per token while the tokens
// of a sample document are fed one by one (each time the longest allowed
// token that continues the sample), split into tokens inside strings and
// outside them, plus the same with a token budget of one token per byte of
// the sample: tight at the end, where the plain-string shortcut gives way to
// a walk of the whole trie with the budget checked at every token.
//
// Absolute figures move on a shared machine; compare rows of one run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "llm/gguf/gguf_file.h"
#include "llm/grammar/grammar_matcher.h"
#include "llm/grammar/grammar_vocabulary.h"
#include "llm/grammar/json_grammar.h"
#include "llm/tokenizer/tokenizer.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {
namespace {

const char* kSchema = R"({"type":"object","properties":{
  "title":{"type":"string"},"year":{"type":"integer"},"rating":{"type":"number"},
  "tags":{"type":"array","items":{"type":"string"},"maxItems":8},
  "author":{"type":"object","properties":{"name":{"type":"string"},"alive":{"type":"boolean"}},
            "required":["name","alive"],"additionalProperties":false},
  "kind":{"enum":["novel","poem","play"]}},
  "required":["title","year","rating","tags","author","kind"],"additionalProperties":false})";

const char* kDocument = R"({"title": "The quick brown fox jumps over the lazy dog, and then \"runs\" away \u00e9",)"
                        R"( "year": 1987, "rating": 4.25, "tags": ["classic", "animals", "short story"],)"
                        R"( "author": {"name": "Anonymous Writer of Tales", "alive": false}, "kind": "novel"})";

double Milliseconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct Timings {
  std::vector<double> string, other;
  void Print(const char* label) {
    for (auto* list : {&string, &other}) {
      std::sort(list->begin(), list->end());
      double sum = 0;
      for (double t : *list) sum += t;
      if (list->empty()) continue;
      std::printf("  %-22s %-14s tokens %3zu  mean %7.3f ms  median %7.3f ms  max %7.3f ms\n", label,
                  list == &string ? "in strings" : "outside", list->size(), sum / list->size(),
                  (*list)[list->size() / 2], list->back());
    }
  }
};

int Run(const std::string& path) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) return std::fprintf(stderr, "%s\n", file.status().ToString().c_str()), 1;
  auto vocabulary = LoadVocabulary(**file);
  if (!vocabulary.ok()) return std::fprintf(stderr, "%s\n", vocabulary.status().ToString().c_str()), 1;
  auto tokenizer = Tokenizer::Create(*vocabulary);
  if (!tokenizer.ok()) return std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str()), 1;
  auto start = std::chrono::steady_clock::now();
  auto grammar_vocabulary = GrammarVocabulary::Create(**tokenizer);
  const double build = Milliseconds(std::chrono::steady_clock::now() - start);
  std::printf("%s: %d tokens, trie %zu nodes, string-special trie %zu nodes, built in %.1f ms\n", path.c_str(),
              grammar_vocabulary->size(), grammar_vocabulary->trie().size(),
              grammar_vocabulary->string_special_trie().size(), build);
  auto grammar = JsonGrammar::Compile(kSchema);
  if (!grammar.ok()) return std::fprintf(stderr, "%s\n", grammar.status().ToString().c_str()), 1;
  const auto tight = static_cast<int64_t>(std::string_view(kDocument).size());
  for (int64_t budget : {int64_t{-1}, tight}) {
    GrammarMatcher matcher(*grammar, grammar_vocabulary);
    matcher.SetTokenBudget(budget);
    JsonAutomaton automaton(**grammar);
    GrammarState state = automaton.Start();
    Timings timings;
    std::string_view rest = kDocument;
    std::vector<uint64_t> mask;
    int32_t room = 0;
    while (!rest.empty()) {
      const bool in_string = automaton.InPlainString(state, &room);
      start = std::chrono::steady_clock::now();
      if (!matcher.FillMask(&mask).ok()) break;
      (in_string ? timings.string : timings.other).push_back(Milliseconds(std::chrono::steady_clock::now() - start));
      int32_t best = -1;
      for (int32_t id = 0; id < grammar_vocabulary->size(); ++id) {
        std::string_view bytes = grammar_vocabulary->bytes(id);
        if (((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1) && !bytes.empty() && rest.starts_with(bytes) &&
            (best < 0 || bytes.size() > grammar_vocabulary->bytes(best).size())) {
          best = id;
        }
      }
      if (best < 0) break;
      if (!matcher.Accept(best).ok()) break;
      automaton.StepAll(state, grammar_vocabulary->bytes(best));
      rest.remove_prefix(grammar_vocabulary->bytes(best).size());
    }
    timings.Print(budget < 0 ? "no budget" : "budget, 1 token a byte");
  }
  return 0;
}

}  // namespace
}  // namespace berth::llm

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: llm_grammar_bench MODEL.gguf...\n");
    return 2;
  }
  int status = 0;
  for (int i = 1; i < argc; ++i) status |= berth::llm::Run(argv[i]);
  return status;
}
