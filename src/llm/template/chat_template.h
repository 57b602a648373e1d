// ChatTemplate: a model's `tokenizer.chat_template` (a Jinja template from
// its GGUF metadata), parsed once at load and rendered per request.
//
// The language is the subset of Jinja2 that chat templates use, with the
// whitespace rules and semantics of @huggingface/jinja (transformers' own
// renderer in JavaScript; transformers renders with trim_blocks and
// lstrip_blocks, as here): text, {{ }}, {% %}, {# #} and their `-` forms;
// if/elif/else, for (with `if`, else, loop.*, break, continue), set (names,
// tuples, namespace members, blocks), macro, filter blocks; literals,
// member access, slices, calls, filters, tests, the usual operators; the
// functions range, namespace, raise_exception and strftime_now.
//
// A template is untrusted (it comes with the model file): every limit below
// ends parsing or rendering with an error, never a crash. Parse errors name
// the line and column. `raise_exception(msg)` fails the render with msg.
//
// Render is const and thread-safe: any number of threads may render one
// ChatTemplate at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/template/template_value.h"

namespace berth::llm {

struct TemplateNode;

struct ChatTemplateLimits {
  size_t max_template_bytes = 1 << 20;  // the source
  int max_nesting_depth = 200;          // the syntax tree's height
  int max_call_depth = 32;              // macro calls inside macro calls
  // Loop iterations and macro calls of one render together (and elements
  // visited by comparisons, sorts and conversions to text).
  int64_t max_loop_iterations = 1'000'000;
  size_t max_output_bytes = 16 << 20;  // the output and any one string or list made while rendering
};

class ChatTemplate {
 public:
  static core::Result<ChatTemplate> Parse(std::string_view source, const ChatTemplateLimits& limits = {});

  // Renders with `context` (a dict: its entries are the template's
  // variables). `now` is what strftime_now formats (in local time); the
  // system clock when not given.
  core::Result<std::string> Render(const TemplateValue& context,
                                   std::optional<std::chrono::system_clock::time_point> now = std::nullopt) const;

  const ChatTemplateLimits& limits() const { return limits_; }

 private:
  struct Program;
  std::shared_ptr<const Program> program_;
  ChatTemplateLimits limits_;
};

struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatTemplateOptions {
  std::string bos_token;
  std::string eos_token;
  bool add_generation_prompt = true;
  // More variables (`tools`, `date_string`, `enable_thinking`, ...); they
  // replace the ones above of the same name.
  TemplateDict extra_variables;
  std::optional<std::chrono::system_clock::time_point> now;  // for strftime_now
};

// Renders `messages` (each a dict with `role` and `content`) as the prompt
// text, with `messages`, `bos_token`, `eos_token` and
// `add_generation_prompt` set; anything else (`tools`, ...) is undefined
// unless `options.extra_variables` gives it.
core::Result<std::string> RenderChat(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                                     const ChatTemplateOptions& options);

}  // namespace berth::llm
