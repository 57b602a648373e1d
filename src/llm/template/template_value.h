// TemplateValue: what a chat template computes with. Null, undefined, bool,
// int64, double, string, list and dict (keys kept in insertion order) can be
// built by callers for the render context; namespaces and callables (macros,
// built-in functions) are made while rendering.
//
// Values are cheap to copy: strings, lists and dicts are shared and never
// change once built. A namespace (`namespace(x=1)`) is the one mutable kind;
// it only exists inside one render, so a shared context stays read-only and
// concurrent renders over it are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace berth::llm {

class TemplateDict;
struct TemplateCallable;  // defined by the evaluator

class TemplateValue {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };
  using List = std::vector<TemplateValue>;

  TemplateValue() = default;  // undefined
  static TemplateValue None();
  static TemplateValue Bool(bool value);
  static TemplateValue Int(int64_t value);
  static TemplateValue Float(double value);
  static TemplateValue String(std::string value);
  static TemplateValue MakeList(List items);
  static TemplateValue MakeDict(TemplateDict dict);
  static TemplateValue MakeNamespace(TemplateDict dict);
  static TemplateValue Callable(std::shared_ptr<const TemplateCallable> callable);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  // A dict or a namespace: something with named members.
  bool has_members() const { return kind_ == Kind::kDict || kind_ == Kind::kNamespace; }

  bool boolean() const { return scalar_.boolean; }
  int64_t integer() const { return scalar_.integer; }
  double floating() const { return scalar_.floating; }
  // The number as a double (ints, floats and bools).
  double number() const;
  const std::string& string() const;
  const List& list() const;
  // The members of a dict or a namespace.
  const TemplateDict& dict() const;
  // A namespace's members, for `set ns.x = ...`.
  TemplateDict& namespace_members() const;
  const TemplateCallable& callable() const { return *callable_; }

  // Python's truth: empty strings, lists and dicts, zero, none and
  // undefined are false.
  bool Truthy() const;
  // A short name of the kind for messages ("string", "list", ...).
  const char* KindName() const;

 private:
  explicit TemplateValue(Kind kind) : kind_(kind) {}

  Kind kind_ = Kind::kUndefined;
  union {
    bool boolean;
    int64_t integer;
    double floating;
  } scalar_{};
  std::shared_ptr<const std::string> string_;
  std::shared_ptr<const List> list_;
  std::shared_ptr<TemplateDict> dict_;  // const once built, except a namespace's
  std::shared_ptr<const TemplateCallable> callable_;
};

// A dict: entries in insertion order; setting an existing key replaces its
// value in place.
class TemplateDict {
 public:
  void Set(std::string key, TemplateValue value);
  // The value at `key`, or nullptr.
  const TemplateValue* Find(std::string_view key) const;
  const std::vector<std::pair<std::string, TemplateValue>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, TemplateValue>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace berth::llm
