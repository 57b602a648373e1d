// Turning template values into text (what `{{ }}` prints, `string`,
// `tojson`) and comparing them (==, <, sort), each bounded by a
// TemplateBudget so that shared or deeply nested values cannot make the
// work or the text unbounded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "llm/template/template_value.h"

namespace berth::llm {

// What one render may still spend: steps (loop iterations, macro calls,
// elements visited) and the size of any one text.
struct TemplateBudget {
  int64_t steps_left = 0;
  size_t max_text_bytes = 0;
  int max_value_depth = 0;
  // The namespaces made during the render. A namespace may come to hold
  // itself (`set ns.x = ns`), a cycle of shared pointers: the evaluator
  // empties them all when the render ends, so nothing outlives it.
  std::vector<TemplateValue> namespaces;

  core::Status Spend(int64_t steps);
  core::Status CheckSize(size_t bytes) const;
};

struct TemplateJsonOptions {
  int indent = -1;  // negative: on one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_separator;  // empty: ", " on one line, "," when indented
  std::string key_separator = ": ";
};

// Python's json.dumps as transformers' `tojson` calls it.
core::Status AppendJson(std::string& out, const TemplateValue& value, const TemplateJsonOptions& options,
                        TemplateBudget& budget);
// A value as `{{ }}` prints it: strings as they are, numbers as
// JavaScript writes them (floats keep a ".0"), true/false, lists and dicts
// as JSON; none and undefined print nothing.
core::Status AppendText(std::string& out, const TemplateValue& value, TemplateBudget& budget);
// A number written as JavaScript writes it.
std::string FormatNumber(const TemplateValue& value);

// Python's ==: numbers by value (bools are 0 and 1), strings, lists and
// dicts by content; anything else equal only to itself.
core::Result<bool> ValuesEqual(const TemplateValue& a, const TemplateValue& b, TemplateBudget& budget, int depth = 0);
// <0, 0, >0 for numbers and strings (by code point); an error for others.
core::Result<int> CompareValues(const TemplateValue& a, const TemplateValue& b);

}  // namespace berth::llm
