// JsonGrammar: a JSON Schema (or "any JSON object") compiled into the
// grammar that constrained sampling enforces (grammar_matcher.h).
//
// What a schema may say, and what the grammar makes of it:
// - type: object, array, string, number, integer, boolean, null, or a list.
// - properties, required, additionalProperties: properties come out in the
//   schema's order, required ones always, optional ones when the model picks
//   them. Extra keys are never generated, whatever additionalProperties says
//   (an output without extra keys is valid under true, absent and false
//   alike); an object with no properties whose additionalProperties is
//   absent, true or a schema takes any keys, with values of that schema.
// - items, minItems, maxItems; enum, const (any JSON values, written in
//   compact form with the fewest escapes); minLength, maxLength (characters).
// - anyOf, oneOf, type lists: alternatives, which must differ in the first
//   character of their values (an object and an array, a string and a
//   number): overlapping ones are merged where one holds the other (integer
//   into number, enums together, anything into an "any value") and refused
//   otherwise. allOf with one member is that member.
// - $ref to "#", "#/$defs/NAME" or "#/definitions/NAME"; a recursive
//   reference is refused (the grammar is finite).
// - Annotations (title, description, default, examples, format, $schema,
//   $id, $comment, ...) are ignored; format is an annotation in JSON Schema.
// Everything else (pattern, minimum, maximum, multipleOf, prefixItems,
// uniqueItems, not, if/then/else, patternProperties, ...) is refused:
// InvalidArgument naming the keyword and where it is ("'pattern' at
// #/properties/name is not supported"), so that no output breaks the schema.
//
// The grammar also bounds what a model can loop on: whitespace between
// tokens of the document, digits of numbers, and (optionally) strings and
// arrays without bounds of their own; see GrammarOptions.
//
// Thread safety: immutable once compiled; share one between any number of
// matchers and threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace berth::llm {

struct GrammarOptions {
  // Limits on the schema (InvalidArgument beyond them).
  size_t max_schema_bytes = 1 << 20;
  int32_t max_depth = 64;               // nesting of schemas within the schema
  int32_t max_nodes = 20000;            // grammar nodes after $ref expansion
  int32_t max_enum_values = 1024;       // per enum
  int32_t max_properties = 256;         // per object
  int32_t max_literal_bytes = 1 << 20;  // enum, const and key texts together
  // Bounds on what is generated.
  int32_t max_whitespace = 16;      // bytes of whitespace between two tokens of the document, one newline at most
  int32_t max_integer_digits = 16;  // digits before the decimal point
  int32_t max_fraction_digits = 16;
  int32_t max_exponent_digits = 3;
  int32_t max_string_length = 0;  // characters of a string without maxLength; 0: no bound
  int32_t max_items = 0;          // items of an array (entries of a free object) without a bound; 0: no bound
  int32_t max_value_depth = 32;   // nesting of the document itself
};

// The compiled grammar: nodes that refer to each other by index.
enum class GrammarNodeKind : uint8_t {
  kObject,      // declared properties, in order
  kFreeObject,  // any keys; values of node `item`
  kArray,       // items of node `item`
  kString,
  kNumber,
  kInteger,
  kLiterals,      // one of a set of JSON texts (enum, const, true/false/null)
  kAlternatives,  // children differ in the first byte of their values
};

struct GrammarNode {
  GrammarNodeKind kind = GrammarNodeKind::kLiterals;
  int32_t item = -1;       // kArray, kFreeObject: the items' node
  int32_t min_count = 0;   // kArray: minItems; kString: minLength
  int32_t max_count = -1;  // kArray: maxItems; kString: maxLength; kFreeObject: entries; -1: no bound
  int32_t first = 0;       // kObject: first property; kAlternatives: first child; kLiterals: the literal set
  int32_t count = 0;       // kObject: properties; kAlternatives: children
  int32_t min_bytes = 0;   // bytes of the shortest value
  uint64_t first_bytes[4] = {0, 0, 0, 0};  // the bytes its values may start with
};

struct GrammarProperty {
  int32_t node = 0;  // the value's node
  bool required = false;
  int32_t key_bytes = 0;     // the key's JSON text, quotes included
  int32_t key_set = -1;      // literal set of the keys that may come when this one is the next in order
  int32_t suffix_bytes = 0;  // the required properties from this one on, each as ,"key":value (shortest)
};

// A sorted set of JSON texts; `payload` carries the property index of keys.
struct LiteralSet {
  std::vector<std::string> texts;
  std::vector<int32_t> payload;
};

class JsonGrammar {
 public:
  // A JSON Schema (the text of the schema object itself).
  static core::Result<std::shared_ptr<const JsonGrammar>> Compile(std::string_view schema_json,
                                                                  const GrammarOptions& options = {});
  // Any JSON object (response_format json_object).
  static std::shared_ptr<const JsonGrammar> AnyObject(const GrammarOptions& options = {});

  const GrammarOptions& options() const { return options_; }
  int32_t root() const { return root_; }
  const GrammarNode& node(int32_t index) const { return nodes_[static_cast<size_t>(index)]; }
  const GrammarProperty& property(int32_t index) const { return properties_[static_cast<size_t>(index)]; }
  int32_t child(int32_t alternatives, int32_t i) const {
    return children_[static_cast<size_t>(node(alternatives).first + i)];
  }
  const LiteralSet& literals(int32_t set) const { return literal_sets_[static_cast<size_t>(set)]; }
  // The node a value starting with `byte` takes at `node` (resolving
  // alternatives), or -1 when no value of the node starts so.
  int32_t NodeForFirstByte(int32_t node, uint8_t byte) const;
  size_t node_count() const { return nodes_.size(); }

 private:
  friend class SchemaCompiler;
  JsonGrammar() = default;
  void Finish();  // shortest lengths, key sets
  bool StartsWith(int32_t node, uint8_t byte) const;

  GrammarOptions options_;
  int32_t root_ = 0;
  std::vector<GrammarNode> nodes_;
  std::vector<GrammarProperty> properties_;
  std::vector<std::string> keys_;  // per property, the key's JSON text
  std::vector<int32_t> children_;
  std::vector<LiteralSet> literal_sets_;
};

// The JSON text of `text` as a string, quotes included, with only the escapes
// JSON requires (", \ and control characters).
std::string JsonQuote(std::string_view text);

}  // namespace berth::llm
