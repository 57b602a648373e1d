// JsonGrammar::Compile: a JSON Schema, read with RapidJSON (iteratively, so
// deep nesting cannot exhaust the stack), into grammar nodes.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "llm/grammar/json_grammar.h"

namespace berth::llm {
namespace {

using rapidjson::Value;

// Keywords that say nothing about which documents are valid.
const std::set<std::string_view> kAnnotations = {
    "title",    "description", "default",  "examples",         "format",          "$schema", "$id",
    "$comment", "deprecated",  "readOnly", "writeOnly",        "contentEncoding", "$defs",   "definitions",
    "$anchor",  "strict",      "name",     "contentMediaType", "additionalItems",
};
const std::set<std::string_view> kObjectKeywords = {"properties", "required", "additionalProperties"};
const std::set<std::string_view> kArrayKeywords = {"items", "minItems", "maxItems"};
const std::set<std::string_view> kStringKeywords = {"minLength", "maxLength"};
const std::set<std::string_view> kOtherKeywords = {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"};

std::string CompactJson(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string_view TypeOfValue(const Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsBool()) return "boolean";
  if (value.IsString()) return "string";
  if (value.IsObject()) return "object";
  if (value.IsArray()) return "array";
  if (value.IsInt64() || value.IsUint64()) return "integer";
  return value.IsDouble() && value.GetDouble() == static_cast<double>(static_cast<int64_t>(value.GetDouble()))
             ? "integer"
             : "number";
}

bool TypeAdmits(std::string_view type, std::string_view value_type) {
  return type == value_type || (type == "number" && value_type == "integer");
}

}  // namespace

class SchemaCompiler {
 public:
  SchemaCompiler(const Value& document, const GrammarOptions& options, JsonGrammar* grammar)
      : document_(document), options_(options), grammar_(grammar) {}

  core::Result<int32_t> Compile(const Value& schema, const std::string& path, int depth) {
    if (depth > options_.max_depth) {
      return core::InvalidArgument("the schema nests deeper than {} levels (at {})", options_.max_depth, path);
    }
    if (schema.IsBool()) {
      if (schema.GetBool()) return AnyNode();
      return core::InvalidArgument("the schema at {} is false: no value is valid", path);
    }
    if (!schema.IsObject()) return core::InvalidArgument("the schema at {} is not an object", path);
    bool constrains = false;
    for (const auto& member : schema.GetObject()) {
      std::string_view key(member.name.GetString(), member.name.GetStringLength());
      if (kAnnotations.count(key)) continue;
      if (!kObjectKeywords.count(key) && !kArrayKeywords.count(key) && !kStringKeywords.count(key) &&
          !kOtherKeywords.count(key)) {
        return core::InvalidArgument("'{}' at {} is not supported", key, path);
      }
      constrains = true;
    }
    if (!constrains) return AnyNode();
    if (schema.HasMember("$ref")) return CompileReference(schema, path, depth);
    for (const char* combinator : {"anyOf", "oneOf", "allOf"}) {
      if (schema.HasMember(combinator)) return CompileCombinator(schema, combinator, path, depth);
    }
    if (schema.HasMember("enum") || schema.HasMember("const")) return CompileLiterals(schema, path);
    return CompileTypes(schema, path, depth);
  }

  core::Result<int32_t> AnyNode() {
    if (any_ >= 0) return any_;
    any_ = Add({GrammarNodeKind::kAlternatives});
    const int32_t object = Add({GrammarNodeKind::kFreeObject, any_, 0, Bound(options_.max_items)});
    const int32_t array = Add({GrammarNodeKind::kArray, any_, 0, Bound(options_.max_items)});
    const int32_t string = Add({GrammarNodeKind::kString, -1, 0, Bound(options_.max_string_length)});
    const int32_t number = Add({GrammarNodeKind::kNumber});
    const int32_t literals = AddLiterals({"true", "false", "null"});
    Node(any_).first = static_cast<int32_t>(grammar_->children_.size());
    Node(any_).count = 5;
    for (int32_t child : {object, array, string, number, literals}) grammar_->children_.push_back(child);
    return any_;
  }

 private:
  static int32_t Bound(int32_t option) { return option > 0 ? option : -1; }
  GrammarNode& Node(int32_t index) { return grammar_->nodes_[static_cast<size_t>(index)]; }

  int32_t Add(GrammarNode node) {
    grammar_->nodes_.push_back(node);
    return static_cast<int32_t>(grammar_->nodes_.size()) - 1;
  }
  core::Status CheckNodeCount() const {
    if (grammar_->nodes_.size() > static_cast<size_t>(options_.max_nodes)) {
      return core::InvalidArgument("the schema makes more than {} grammar nodes", options_.max_nodes);
    }
    return core::Status::Ok();
  }

  int32_t AddLiterals(std::vector<std::string> texts) {
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    LiteralSet set;
    set.payload.assign(texts.size(), 0);
    set.texts = std::move(texts);
    grammar_->literal_sets_.push_back(std::move(set));
    GrammarNode node{GrammarNodeKind::kLiterals};
    node.first = static_cast<int32_t>(grammar_->literal_sets_.size()) - 1;
    return Add(node);
  }

  core::Result<int32_t> ReadCount(const Value& schema, const char* keyword, const std::string& path) {
    if (!schema.HasMember(keyword)) return -1;
    const Value& value = schema[keyword];
    if (!value.IsUint64() || value.GetUint64() > 1000000) {
      return core::InvalidArgument("'{}' at {} is not a count (an integer in [0, 1000000])", keyword, path);
    }
    return static_cast<int32_t>(value.GetUint64());
  }

  core::Result<int32_t> CompileReference(const Value& schema, const std::string& path, int depth) {
    for (const auto& member : schema.GetObject()) {
      std::string_view key(member.name.GetString(), member.name.GetStringLength());
      if (key != "$ref" && !kAnnotations.count(key)) {
        return core::InvalidArgument("'{}' beside '$ref' at {} is not supported", key, path);
      }
    }
    if (!schema["$ref"].IsString()) return core::InvalidArgument("'$ref' at {} is not a string", path);
    std::string reference = schema["$ref"].GetString();
    if (auto found = references_.find(reference); found != references_.end()) return found->second;
    if (std::find(in_progress_.begin(), in_progress_.end(), reference) != in_progress_.end()) {
      return core::InvalidArgument("the $ref '{}' at {} is recursive; recursive schemas are not supported", reference,
                                   path);
    }
    const Value* target = nullptr;
    if (reference == "#") {
      target = &document_;
    } else {
      for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
        std::string_view p(prefix);
        if (reference.compare(0, p.size(), p) != 0) continue;
        const std::string name = reference.substr(p.size());
        const Value& folder = document_;
        std::string folder_name(p.substr(2, p.size() - 3));
        if (folder.HasMember(folder_name.c_str()) && folder[folder_name.c_str()].IsObject() &&
            folder[folder_name.c_str()].HasMember(name.c_str())) {
          target = &folder[folder_name.c_str()][name.c_str()];
        }
      }
    }
    if (target == nullptr) {
      return core::InvalidArgument(
          "the $ref '{}' at {} names no schema (berth resolves '#', '#/$defs/NAME' and "
          "'#/definitions/NAME')",
          reference, path);
    }
    in_progress_.push_back(reference);
    auto compiled = Compile(*target, reference, depth + 1);
    in_progress_.pop_back();
    if (compiled.ok()) references_[reference] = *compiled;
    return compiled;
  }

  core::Result<int32_t> CompileCombinator(const Value& schema, const char* combinator, const std::string& path,
                                          int depth) {
    for (const auto& member : schema.GetObject()) {
      std::string_view key(member.name.GetString(), member.name.GetStringLength());
      if (key != combinator && !kAnnotations.count(key)) {
        return core::InvalidArgument("'{}' beside '{}' at {} is not supported", key, combinator, path);
      }
    }
    const Value& list = schema[combinator];
    if (!list.IsArray() || list.Empty())
      return core::InvalidArgument("'{}' at {} is not a non-empty list", combinator, path);
    if (std::string_view(combinator) == "allOf") {
      if (list.Size() != 1)
        return core::InvalidArgument("'allOf' at {} with more than one schema is not supported", path);
      return Compile(list[0], path + "/allOf/0", depth + 1);
    }
    std::vector<int32_t> children;
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      ASSIGN_OR_RETURN(int32_t child, Compile(list[i], fmt::format("{}/{}/{}", path, combinator, i), depth + 1));
      children.push_back(child);
    }
    return Alternatives(std::move(children), std::string_view(combinator) == "oneOf", path + "/" + combinator);
  }

  core::Result<int32_t> CompileLiterals(const Value& schema, const std::string& path) {
    std::vector<std::string> types;
    if (schema.HasMember("type")) {
      const Value& type = schema["type"];
      if (type.IsString()) types.emplace_back(type.GetString());
      if (type.IsArray()) {
        for (const auto& t : type.GetArray())
          if (t.IsString()) types.emplace_back(t.GetString());
      }
    }
    std::vector<const Value*> values;
    if (schema.HasMember("const")) values.push_back(&schema["const"]);
    if (schema.HasMember("enum")) {
      const Value& list = schema["enum"];
      if (!list.IsArray() || list.Empty()) return core::InvalidArgument("'enum' at {} is not a non-empty list", path);
      if (list.Size() > static_cast<rapidjson::SizeType>(options_.max_enum_values)) {
        return core::InvalidArgument("'enum' at {} has {} values, more than {}", path, list.Size(),
                                     options_.max_enum_values);
      }
      for (const auto& value : list.GetArray()) values.push_back(&value);
    }
    std::vector<std::string> texts;
    for (const Value* value : values) {
      const bool admitted = types.empty() || std::any_of(types.begin(), types.end(), [&](const std::string& type) {
                              return TypeAdmits(type, TypeOfValue(*value));
                            });
      if (!admitted) continue;
      texts.push_back(CompactJson(*value));
      literal_bytes_ += texts.back().size();
    }
    if (schema.HasMember("const") && schema.HasMember("enum")) {
      return core::InvalidArgument("'const' beside 'enum' at {} is not supported", path);
    }
    if (literal_bytes_ > static_cast<size_t>(options_.max_literal_bytes)) {
      return core::InvalidArgument("the schema's enum and const values exceed {} bytes", options_.max_literal_bytes);
    }
    if (texts.empty()) return core::InvalidArgument("no value of 'enum'/'const' at {} has the schema's type", path);
    const int32_t node = AddLiterals(std::move(texts));
    RETURN_IF_ERROR(CheckNodeCount());
    return node;
  }

  // The type a schema without "type" has by its keywords.
  core::Result<std::vector<std::string>> TypesOf(const Value& schema, const std::string& path) {
    std::vector<std::string> types;
    if (schema.HasMember("type")) {
      const Value& type = schema["type"];
      if (type.IsString()) {
        types.emplace_back(type.GetString());
      } else if (type.IsArray() && !type.Empty()) {
        for (const auto& t : type.GetArray()) {
          if (!t.IsString()) return core::InvalidArgument("'type' at {} lists a non-string", path);
          types.emplace_back(t.GetString());
        }
      } else {
        return core::InvalidArgument("'type' at {} is neither a type name nor a list of them", path);
      }
      return types;
    }
    for (const auto& member : schema.GetObject()) {
      std::string_view key(member.name.GetString(), member.name.GetStringLength());
      const char* type = kObjectKeywords.count(key)   ? "object"
                         : kArrayKeywords.count(key)  ? "array"
                         : kStringKeywords.count(key) ? "string"
                                                      : nullptr;
      if (type != nullptr && std::find(types.begin(), types.end(), type) == types.end()) types.emplace_back(type);
    }
    if (types.size() > 1)
      return core::InvalidArgument("the schema at {} has keywords of several types and no 'type'", path);
    return types;
  }

  core::Result<int32_t> CompileTypes(const Value& schema, const std::string& path, int depth) {
    ASSIGN_OR_RETURN(std::vector<std::string> types, TypesOf(schema, path));
    if (types.empty()) return AnyNode();
    std::vector<int32_t> children;
    for (const std::string& type : types) {
      int32_t node = -1;
      if (type == "object") {
        ASSIGN_OR_RETURN(node, CompileObject(schema, path, depth));
      } else if (type == "array") {
        ASSIGN_OR_RETURN(node, CompileArray(schema, path, depth));
      } else if (type == "string") {
        ASSIGN_OR_RETURN(int32_t min_length, ReadCount(schema, "minLength", path));
        ASSIGN_OR_RETURN(int32_t max_length, ReadCount(schema, "maxLength", path));
        if (max_length < 0) max_length = Bound(options_.max_string_length);
        if (max_length >= 0 && min_length > max_length) {
          return core::InvalidArgument("'minLength' {} at {} is above the string bound {}", min_length, path,
                                       max_length);
        }
        node = Add({GrammarNodeKind::kString, -1, std::max(min_length, 0), max_length});
      } else if (type == "number" || type == "integer") {
        node = Add({type == "number" ? GrammarNodeKind::kNumber : GrammarNodeKind::kInteger});
      } else if (type == "boolean") {
        node = AddLiterals({"true", "false"});
      } else if (type == "null") {
        node = AddLiterals({"null"});
      } else {
        return core::InvalidArgument("'type' at {} names '{}', which is no JSON Schema type", path, type);
      }
      RETURN_IF_ERROR(CheckNodeCount());
      children.push_back(node);
    }
    if (children.size() == 1) return children[0];
    return Alternatives(std::move(children), /*one_of=*/false, path + "/type");
  }

  core::Result<int32_t> CompileArray(const Value& schema, const std::string& path, int depth) {
    ASSIGN_OR_RETURN(int32_t min_items, ReadCount(schema, "minItems", path));
    ASSIGN_OR_RETURN(int32_t max_items, ReadCount(schema, "maxItems", path));
    if (max_items < 0) max_items = Bound(options_.max_items);
    if (max_items >= 0 && min_items > max_items) {
      return core::InvalidArgument("'minItems' {} at {} is above the array bound {}", min_items, path, max_items);
    }
    int32_t item = -1;
    if (schema.HasMember("items")) {
      if (schema["items"].IsArray()) return core::InvalidArgument("'items' as a list at {} is not supported", path);
      ASSIGN_OR_RETURN(item, Compile(schema["items"], path + "/items", depth + 1));
    } else {
      ASSIGN_OR_RETURN(item, AnyNode());
    }
    return Add({GrammarNodeKind::kArray, item, std::max(min_items, 0), max_items});
  }

  core::Result<int32_t> CompileObject(const Value& schema, const std::string& path, int depth);
  core::Result<int32_t> Alternatives(std::vector<int32_t> children, bool one_of, const std::string& path);

  const Value& document_;
  const GrammarOptions& options_;
  JsonGrammar* grammar_;
  int32_t any_ = -1;
  size_t literal_bytes_ = 0;
  std::map<std::string, int32_t> references_;
  std::vector<std::string> in_progress_;
};

core::Result<int32_t> SchemaCompiler::CompileObject(const Value& schema, const std::string& path, int depth) {
  const Value* properties = schema.HasMember("properties") ? &schema["properties"] : nullptr;
  if (properties != nullptr && !properties->IsObject()) {
    return core::InvalidArgument("'properties' at {} is not an object", path);
  }
  std::set<std::string> required;
  if (schema.HasMember("required")) {
    if (!schema["required"].IsArray()) return core::InvalidArgument("'required' at {} is not a list", path);
    for (const auto& name : schema["required"].GetArray()) {
      if (!name.IsString()) return core::InvalidArgument("'required' at {} lists a non-string", path);
      if (properties == nullptr || !properties->HasMember(name)) {
        return core::InvalidArgument("'required' at {} names '{}', which is not in 'properties'", path,
                                     name.GetString());
      }
      required.insert(name.GetString());
    }
  }
  const Value* additional = schema.HasMember("additionalProperties") ? &schema["additionalProperties"] : nullptr;
  if (properties == nullptr || properties->ObjectEmpty()) {
    if (additional != nullptr && additional->IsBool() && !additional->GetBool()) {
      return AddLiterals({"{}"});
    }
    int32_t values = -1;
    if (additional != nullptr) {
      ASSIGN_OR_RETURN(values, Compile(*additional, path + "/additionalProperties", depth + 1));
    } else {
      ASSIGN_OR_RETURN(values, AnyNode());
    }
    return Add({GrammarNodeKind::kFreeObject, values, 0, Bound(options_.max_items)});
  }
  if (properties->MemberCount() > static_cast<rapidjson::SizeType>(options_.max_properties)) {
    return core::InvalidArgument("'properties' at {} has {} entries, more than {}", path, properties->MemberCount(),
                                 options_.max_properties);
  }
  if (additional != nullptr && !additional->IsBool()) {
    // Only the declared properties are generated, but the schema must still be one berth can read.
    RETURN_IF_ERROR(Compile(*additional, path + "/additionalProperties", depth + 1).status());
  }
  std::vector<GrammarProperty> compiled;
  std::vector<std::string> keys;
  for (const auto& member : properties->GetObject()) {
    std::string name(member.name.GetString(), member.name.GetStringLength());
    ASSIGN_OR_RETURN(int32_t value, Compile(member.value, path + "/properties/" + name, depth + 1));
    GrammarProperty property;
    property.node = value;
    property.required = required.count(name) > 0;
    keys.push_back(JsonQuote(name));
    property.key_bytes = static_cast<int32_t>(keys.back().size());
    compiled.push_back(property);
  }
  GrammarNode node{GrammarNodeKind::kObject};
  node.first = static_cast<int32_t>(grammar_->properties_.size());
  node.count = static_cast<int32_t>(compiled.size());
  for (size_t i = 0; i < compiled.size(); ++i) {
    // The keys that may come when property i is the next in order: i up to the first required one.
    LiteralSet set;
    for (size_t j = i; j < compiled.size(); ++j) {
      set.texts.push_back(keys[j]);
      set.payload.push_back(static_cast<int32_t>(j));
      if (compiled[j].required) break;
    }
    std::vector<size_t> order(set.texts.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return set.texts[a] < set.texts[b]; });
    LiteralSet sorted;
    for (size_t k : order) {
      sorted.texts.push_back(set.texts[k]);
      sorted.payload.push_back(set.payload[k]);
    }
    grammar_->literal_sets_.push_back(std::move(sorted));
    compiled[i].key_set = static_cast<int32_t>(grammar_->literal_sets_.size()) - 1;
    grammar_->properties_.push_back(compiled[i]);
    grammar_->keys_.push_back(keys[i]);
  }
  const int32_t index = Add(node);
  RETURN_IF_ERROR(CheckNodeCount());
  return index;
}

core::Result<int32_t> SchemaCompiler::Alternatives(std::vector<int32_t> children, bool one_of,
                                                   const std::string& path) {
  // Flatten, then merge what overlaps where one side holds the other.
  std::vector<int32_t> flat;
  for (int32_t child : children) {
    const GrammarNode& node = Node(child);
    if (node.kind != GrammarNodeKind::kAlternatives || child == any_) {
      flat.push_back(child);
      continue;
    }
    for (int32_t i = 0; i < node.count; ++i) flat.push_back(grammar_->child(child, i));
  }
  auto overlap = [&](const char* what) {
    return core::InvalidArgument(
        "{}: the alternatives overlap ({}); berth needs alternatives whose values differ "
        "in their first character",
        path, what);
  };
  if (std::find(flat.begin(), flat.end(), any_) != flat.end()) {
    if (one_of) return overlap("one accepts any value");
    return any_;
  }
  std::vector<std::string> literals;
  bool has_number = false;
  std::vector<int32_t> kept;
  for (int32_t child : flat) {
    const GrammarNode& node = Node(child);
    if (node.kind == GrammarNodeKind::kLiterals) {
      for (const std::string& text : grammar_->literals(node.first).texts) literals.push_back(text);
      continue;
    }
    has_number |= node.kind == GrammarNodeKind::kNumber;
    kept.push_back(child);
  }
  if (has_number) {
    const auto is_integer = [&](int32_t c) { return Node(c).kind == GrammarNodeKind::kInteger; };
    if (one_of && std::any_of(kept.begin(), kept.end(), is_integer)) return overlap("integer and number");
    kept.erase(std::remove_if(kept.begin(), kept.end(), is_integer), kept.end());
  }
  if (!literals.empty()) {
    const size_t before = literals.size();
    std::sort(literals.begin(), literals.end());
    literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
    if (one_of && literals.size() != before) return overlap("a value in two alternatives");
    kept.push_back(AddLiterals(std::move(literals)));
  }
  if (kept.size() == 1) return kept[0];
  GrammarNode node{GrammarNodeKind::kAlternatives};
  node.first = static_cast<int32_t>(grammar_->children_.size());
  node.count = static_cast<int32_t>(kept.size());
  for (int32_t child : kept) grammar_->children_.push_back(child);
  const int32_t index = Add(node);
  RETURN_IF_ERROR(CheckNodeCount());
  grammar_->Finish();  // the first bytes of the children, to find overlaps
  for (int byte = 0; byte < 256; ++byte) {
    int32_t holders = 0;
    for (int32_t child : kept) holders += grammar_->StartsWith(child, static_cast<uint8_t>(byte)) ? 1 : 0;
    if (holders > 1) return overlap(fmt::format("two can start with '{:c}'", static_cast<char>(byte)).c_str());
  }
  return index;
}

core::Result<std::shared_ptr<const JsonGrammar>> JsonGrammar::Compile(std::string_view schema_json,
                                                                      const GrammarOptions& options) {
  if (schema_json.size() > options.max_schema_bytes) {
    return core::InvalidArgument("the schema is {} bytes, more than {}", schema_json.size(), options.max_schema_bytes);
  }
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(schema_json.data(),
                                                                                     schema_json.size());
  if (document.HasParseError()) {
    return core::InvalidArgument("the schema is not JSON: {} at offset {}",
                                 rapidjson::GetParseError_En(document.GetParseError()), document.GetErrorOffset());
  }
  auto grammar = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  grammar->options_ = options;
  SchemaCompiler compiler(document, options, grammar.get());
  ASSIGN_OR_RETURN(grammar->root_, compiler.Compile(document, "#", 0));
  grammar->Finish();
  return std::shared_ptr<const JsonGrammar>(std::move(grammar));
}

std::shared_ptr<const JsonGrammar> JsonGrammar::AnyObject(const GrammarOptions& options) {
  auto grammar = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  grammar->options_ = options;
  rapidjson::Document empty;
  SchemaCompiler compiler(empty, options, grammar.get());
  const int32_t any = *compiler.AnyNode();
  grammar->root_ = grammar->child(any, 0);  // the free object
  grammar->Finish();
  return grammar;
}

std::string JsonQuote(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace berth::llm
