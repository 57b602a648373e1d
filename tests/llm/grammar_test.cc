// The JSON grammar: the schema compiler's limits and errors, the automaton
// on hand-written documents per feature, and token masks on tiny
// vocabularies of both tokenizer families.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "llm/grammar/grammar_matcher.h"
#include "llm/grammar/json_automaton.h"
#include "llm/grammar/json_grammar.h"
#include "tiny_vocabulary.h"

namespace berth::llm {
namespace {

std::shared_ptr<const JsonGrammar> MustCompile(const std::string& schema, const GrammarOptions& options = {}) {
  auto grammar = JsonGrammar::Compile(schema, options);
  EXPECT_TRUE(grammar.ok()) << schema << ": " << grammar.status().ToString();
  return grammar.ok() ? *grammar : JsonGrammar::AnyObject();
}

// Whether `document` is a complete document of the grammar.
bool Accepts(const JsonGrammar& grammar, std::string_view document) {
  JsonAutomaton automaton(grammar);
  GrammarState state = automaton.Start();
  return automaton.StepAll(state, document) && automaton.IsComplete(state);
}

void ExpectDocuments(const std::string& schema, const std::vector<std::string>& valid,
                     const std::vector<std::string>& invalid, const GrammarOptions& options = {}) {
  auto grammar = MustCompile(schema, options);
  for (const std::string& document : valid) EXPECT_TRUE(Accepts(*grammar, document)) << schema << " " << document;
  for (const std::string& document : invalid) EXPECT_FALSE(Accepts(*grammar, document)) << schema << " " << document;
}

std::string CompileError(const std::string& schema, const GrammarOptions& options = {}) {
  auto grammar = JsonGrammar::Compile(schema, options);
  EXPECT_FALSE(grammar.ok()) << schema;
  if (grammar.ok()) return "";
  EXPECT_EQ(grammar.status().code(), core::StatusCode::kInvalidArgument);
  return grammar.status().message();
}

TEST(JsonGrammar, ScalarsFollowJsonsGrammar) {
  ExpectDocuments(R"({"type":"number"})", {"0", "-0", "12", "-1.5", "1e5", "2.5E-3", "1e+2", " 7"},
                  {"01", "+1", ".5", "1.", "1e", "-", "1.5.2", "NaN", "1 ", "--1", "0x1"});
  ExpectDocuments(R"({"type":"integer"})", {"0", "-12", "123"}, {"1.0", "1e3", "-", "00"});
  ExpectDocuments(R"({"type":"boolean"})", {"true", "false"}, {"True", "tru", "truex", "1"});
  ExpectDocuments(R"({"type":"null"})", {"null"}, {"nul", "None", "\"null\""});
  ExpectDocuments(R"({"type":"string"})",
                  {R"("")", R"("abc")", R"("a\"b\\c\/\n\t\u00e9")", "\"caf\xc3\xa9 \xe2\x9c\x85 \xf0\x9f\x98\x80\""},
                  {R"("abc)", "\"a\nb\"", R"("\x")", R"("\u12")", R"("\ud800")", "\"\xc3\"", "\"\xc0\x80\"",
                   "\"\xed\xa0\x80\"", "\"\xff\"", R"("a" )", R"('a')"});
}

TEST(JsonGrammar, NumbersAndWhitespaceAreBounded) {
  GrammarOptions options;
  options.max_integer_digits = 3;
  options.max_fraction_digits = 2;
  options.max_whitespace = 4;
  ExpectDocuments(R"({"type":"array","items":{"type":"number"}})", {"[123, 1.25]", "[\n  1 ]", "[    1]"},
                  {"[1234]", "[1.255]", "[     1]", "[\n\n1]", "[1\r]"}, options);
}

TEST(JsonGrammar, StringLengthsCountCharacters) {
  ExpectDocuments(R"({"type":"string","minLength":2,"maxLength":3})",
                  {R"("ab")", R"("abc")", "\"\xc3\xa9\xc3\xa9\"", R"("\n\t")"}, {R"("a")", R"("abcd")", R"("")"});
  GrammarOptions options;
  options.max_string_length = 2;
  ExpectDocuments(R"({"type":"string"})", {R"("ab")"}, {R"("abc")"}, options);
  ExpectDocuments(R"({"type":"string","maxLength":4})", {R"("abcd")"}, {R"("abcde")"}, options);
}

TEST(JsonGrammar, ObjectsKeepTheSchemasOrder) {
  const std::string schema = R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},
      "c":{"type":"boolean"}},"required":["b"],"additionalProperties":false})";
  ExpectDocuments(schema,
                  {R"({"b":"x"})", R"({"a":1,"b":"x"})", R"({"a":1,"b":"x","c":true})",
                   R"({ "b" : "x" , "c" : false })", R"({"b":"x","c":true})"},
                  {R"({})", R"({"a":1})", R"({"b":"x","a":1})", R"({"b":"x","d":1})", R"({"b":"x",})",
                   R"({"b":"x","b":"y"})", R"({"a":"1","b":"x"})"});
  // No extra keys even where the schema allows them.
  ExpectDocuments(R"({"type":"object","properties":{"a":{"type":"null"}}})", {R"({})", R"({"a":null})"},
                  {R"({"z":1})"});
}

TEST(JsonGrammar, FreeObjectsAndAnyValues) {
  ExpectDocuments(R"({"type":"object"})", {R"({})", R"({"x":[1,{"y":null}],"z":"w"})", R"({"":true})"},
                  {R"([])", R"({"x"})", R"({x:1})", R"({"x":1,})"});
  ExpectDocuments(R"({"type":"object","additionalProperties":{"type":"integer"}})", {R"({"a":1,"b":2})"},
                  {R"({"a":"1"})"});
  ExpectDocuments(R"({"type":"object","additionalProperties":false})", {"{}"}, {R"({"a":1})"});
  auto any_object = JsonGrammar::AnyObject();
  EXPECT_TRUE(Accepts(*any_object, R"({"a":{"b":[true,false,null,-1.5e3,"\u0041"]}})"));
  EXPECT_FALSE(Accepts(*any_object, R"("text")"));
  EXPECT_FALSE(Accepts(*any_object, R"({"a":[1,]})"));
  ExpectDocuments("{}", {"1", R"("s")", "[]", "{}", "null"}, {"", "nul"});
}

TEST(JsonGrammar, ArraysCountTheirItems) {
  ExpectDocuments(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})", {"[1]", "[1, 2]"},
                  {"[]", "[1,2,3]", "[1,]", "[,1]", "[\"a\"]"});
  ExpectDocuments(R"({"type":"array","maxItems":0})", {"[]"}, {"[1]"});
}

TEST(JsonGrammar, EnumsConstsAndAlternatives) {
  ExpectDocuments(R"({"enum":["red","green",1,12,null,{"a":[1]}]})",
                  {R"("red")", R"("green")", "1", "12", "null", R"({"a":[1]})"},
                  {R"("blue")", "2", "123", R"("re")", R"({"a": [1]})"});
  ExpectDocuments(R"({"const":"x\"y"})", {R"("x\"y")"}, {R"("x")"});
  ExpectDocuments(R"({"type":["string","null"]})", {R"("a")", "null"}, {"1"});
  ExpectDocuments(R"({"anyOf":[{"type":"integer"},{"type":"number"},{"type":"array","items":{"type":"string"}}]})",
                  {"1.5", "2", R"(["a"])"}, {R"("a")", "[1]"});
  ExpectDocuments(R"({"oneOf":[{"enum":["a","b"]},{"type":"boolean"}]})", {R"("a")", "true"}, {R"("c")"});
  ExpectDocuments(R"({"type":"string","enum":["a",1]})", {R"("a")"}, {"1"});
}

TEST(JsonGrammar, ReferencesResolve) {
  const std::string schema = R"({"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},
      "y":{"type":"number"}},"required":["x","y"],"additionalProperties":false}},
      "type":"object","properties":{"from":{"$ref":"#/$defs/point"},"to":{"$ref":"#/$defs/point"}},
      "required":["from","to"]})";
  ExpectDocuments(schema, {R"({"from":{"x":1,"y":2},"to":{"x":3,"y":4}})"}, {R"({"from":{"x":1},"to":{"x":3,"y":4}})"});
  ExpectDocuments(R"({"definitions":{"n":{"type":"null"}},"type":"array","items":{"$ref":"#/definitions/n"}})",
                  {"[null]"}, {"[1]"});
}

TEST(JsonGrammar, SchemasItCannotHoldAreClearErrors) {
  EXPECT_NE(CompileError(R"({"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"}}}},
      "$ref":"#/$defs/node"})")
                .find("recursive"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"array","items":{"$ref":"#"}})").find("recursive"), std::string::npos);
  std::string deep;
  for (int i = 0; i < 500; ++i) deep += R"({"type":"array","items":)";
  deep += R"({"type":"null"})";
  for (int i = 0; i < 500; ++i) deep += "}";
  EXPECT_NE(CompileError(deep).find("deeper than 64"), std::string::npos);
  std::string very_deep(200000, '[');
  EXPECT_NE(CompileError(very_deep).find("not JSON"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"string","pattern":"^a+$"})").find("'pattern' at # is not supported"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"object","properties":{"n":{"type":"integer","minimum":0}}})")
                .find("'minimum' at #/properties/n"),
            std::string::npos);
  std::string huge_enum = R"({"enum":[)";
  for (int i = 0; i < 5000; ++i) huge_enum += (i ? "," : "") + std::to_string(i);
  huge_enum += "]}";
  EXPECT_NE(CompileError(huge_enum).find("more than 1024"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"date"})").find("'date'"), std::string::npos);
  EXPECT_NE(CompileError(R"({"anyOf":[{"type":"object"},{"type":"object","properties":{"a":{}}}]})").find("overlap"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})").find("overlap"), std::string::npos);
  EXPECT_NE(CompileError(R"({"$ref":"#/$defs/missing"})").find("names no schema"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"object","required":["a"]})").find("'a'"), std::string::npos);
  EXPECT_NE(CompileError("false").find("false"), std::string::npos);
  EXPECT_NE(CompileError("{\"type\":").find("not JSON"), std::string::npos);
  GrammarOptions small;
  small.max_schema_bytes = 10;
  EXPECT_NE(CompileError(R"({"type":"string"})", small).find("bytes"), std::string::npos);
  small = {};
  small.max_nodes = 3;
  EXPECT_NE(CompileError(R"({"type":"array","items":{"type":"array","items":{"type":"array"}}})", small)
                .find("grammar nodes"),
            std::string::npos);
}

TEST(JsonGrammar, ShortestCompletionIsExact) {
  auto grammar = MustCompile(R"({"type":"object","properties":{"a":{"type":"string","minLength":2},
      "b":{"type":"array","items":{"type":"integer"},"minItems":2},"c":{"type":"boolean"}},"required":["a","b"]})");
  JsonAutomaton automaton(*grammar);
  GrammarState state = automaton.Start();
  const std::string shortest = R"({"a":"xx","b":[0,0]})";
  // Along the shortest document the bytes still due fall by one a byte.
  for (size_t i = 0; i < shortest.size(); ++i) {
    EXPECT_EQ(automaton.MinBytesToComplete(state), static_cast<int64_t>(shortest.size() - i)) << i;
    ASSERT_TRUE(automaton.Step(state, static_cast<uint8_t>(shortest[i])));
  }
  EXPECT_EQ(automaton.MinBytesToComplete(state), 0);
  EXPECT_TRUE(automaton.IsComplete(state));
}

// Every token the mask allows continues the document, and every token that
// continues it is allowed: the mask against a token-by-token check.
void ExpectMaskMatchesBruteForce(const std::string& schema, const Tokenizer& tokenizer, const std::string& prefix) {
  auto grammar = MustCompile(schema);
  auto vocabulary = GrammarVocabulary::Create(tokenizer);
  GrammarMatcher matcher(grammar, vocabulary);
  ASSERT_TRUE(matcher.AcceptBytes(prefix)) << prefix;
  std::vector<uint64_t> mask;
  ASSERT_TRUE(matcher.FillMask(&mask).ok());
  JsonAutomaton automaton(*grammar);
  GrammarState start = automaton.Start();
  ASSERT_TRUE(automaton.StepAll(start, prefix));
  for (int32_t id = 0; id < tokenizer.size(); ++id) {
    const bool allowed = (mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1;
    bool expected = false;
    if (tokenizer.IsEndOfGeneration(id)) {
      expected = automaton.IsComplete(start);
    } else if (!vocabulary->bytes(id).empty()) {
      GrammarState state = start;
      expected = automaton.StepAll(state, vocabulary->bytes(id));
    }
    EXPECT_EQ(allowed, expected) << "prefix '" << prefix << "' token " << id << " '" << tokenizer.Piece(id, true)
                                 << "'";
  }
}

TEST(GrammarMatcher, MasksMatchATokenByTokenCheck) {
  auto spm = testing::TinySentencePiece();
  auto bpe = testing::TinyBytePairs();
  auto spm_tokenizer = Tokenizer::Create(spm->Finish());
  auto bpe_tokenizer = Tokenizer::Create(bpe->Finish());
  ASSERT_TRUE(spm_tokenizer.ok() && bpe_tokenizer.ok());
  const std::string schema = R"({"type":"object","properties":{"hello":{"type":"string","maxLength":8},
      "n":{"type":"array","items":{"type":"integer"}},"w":{"enum":["world","wor"]}},"required":["hello"]})";
  for (const Tokenizer* tokenizer : {spm_tokenizer->get(), bpe_tokenizer->get()}) {
    for (const char* prefix :
         {"", " ", "{", "{\"", "{\"hello\":\"", "{\"hello\":\"hello wo", "{\"hello\":\"\xc3", "{\"hello\":\"abcdefg",
          "{\"hello\":\"x\",\"n\":[1", "{\"hello\":\"x\",\"w\":\"wor", "{\"hello\":\"x\"}"}) {
      ExpectMaskMatchesBruteForce(schema, *tokenizer, prefix);
    }
  }
}

TEST(GrammarMatcher, EndOfGenerationOnlyWhenComplete) {
  auto bpe = testing::TinyBytePairs();
  auto tokenizer = Tokenizer::Create(bpe->Finish());
  ASSERT_TRUE(tokenizer.ok());
  auto vocabulary = GrammarVocabulary::Create(**tokenizer);
  GrammarMatcher matcher(MustCompile(R"({"type":"integer"})"), vocabulary);
  const int32_t eos = (*tokenizer)->eos();
  EXPECT_FALSE(matcher.IsComplete());
  EXPECT_FALSE(matcher.Accept(eos).ok());
  const int32_t one = (*tokenizer)->Encode("1", false, false)[0];
  ASSERT_TRUE(matcher.Accept(one).ok());
  EXPECT_TRUE(matcher.IsComplete());
  EXPECT_TRUE(matcher.CanContinue());
  std::vector<float> logits(static_cast<size_t>(vocabulary->size()), 0.0f);
  ASSERT_TRUE(matcher.ApplyMask(logits).ok());
  EXPECT_EQ(logits[static_cast<size_t>(eos)], 0.0f);
  EXPECT_EQ(logits[static_cast<size_t>(one)], 0.0f);
  EXPECT_TRUE(std::isinf(logits[static_cast<size_t>((*tokenizer)->Encode("a", false, false)[0])]));
  EXPECT_FALSE(matcher.Accept((*tokenizer)->Encode("a", false, false)[0]).ok());
  ASSERT_TRUE(matcher.Accept(eos).ok());
  EXPECT_TRUE(matcher.finished());
  EXPECT_FALSE(matcher.CanContinue());
  EXPECT_FALSE(matcher.ApplyMask(logits).ok());
}

TEST(GrammarMatcher, ABudgetSteersToACompleteDocument) {
  auto bpe = testing::TinyBytePairs();
  auto tokenizer = Tokenizer::Create(bpe->Finish());
  ASSERT_TRUE(tokenizer.ok());
  auto vocabulary = GrammarVocabulary::Create(**tokenizer);
  auto grammar = MustCompile(R"({"type":"object","properties":{"s":{"type":"string"},
      "t":{"type":"array","items":{"type":"string"}}},"required":["s","t"]})");
  // Always take the longest allowed token that is not the end: the greediest
  // path still closes in time.
  for (int64_t budget : {int64_t{16}, int64_t{25}, int64_t{40}}) {
    GrammarMatcher matcher(grammar, vocabulary);
    matcher.SetTokenBudget(budget);
    std::string text;
    int64_t used = 0;
    while (!matcher.IsComplete()) {
      ASSERT_LT(used, budget) << text;
      std::vector<uint64_t> mask;
      ASSERT_TRUE(matcher.FillMask(&mask).ok()) << text;
      int32_t best = -1;
      for (int32_t id = 0; id < vocabulary->size(); ++id) {
        if (((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1) && !vocabulary->IsEndOfGeneration(id) &&
            (best < 0 || vocabulary->bytes(id).size() > vocabulary->bytes(best).size() ||
             (vocabulary->bytes(id).size() == vocabulary->bytes(best).size() && vocabulary->bytes(id)[0] == 'w'))) {
          best = id;
        }
      }
      ASSERT_GE(best, 0) << text;
      ASSERT_TRUE(matcher.Accept(best).ok());
      text += vocabulary->bytes(best);
      ++used;
    }
    EXPECT_LE(used, budget) << text;
    EXPECT_TRUE(Accepts(*grammar, text)) << text;
  }
}

}  // namespace
}  // namespace berth::llm
