#include "llm/template/chat_template.h"

#include <utility>

#include "llm/template/template_evaluator.h"
#include "llm/template/template_lexer.h"
#include "llm/template/template_parser.h"

namespace berth::llm {

struct ChatTemplate::Program {
  std::string source;
  std::vector<TemplateNodePtr> body;
};

core::Result<ChatTemplate> ChatTemplate::Parse(std::string_view source, const ChatTemplateLimits& limits) {
  if (source.size() > limits.max_template_bytes) {
    return core::ResourceExhausted("chat template: {} bytes is over the limit of {}", source.size(),
                                   limits.max_template_bytes);
  }
  auto program = std::make_shared<Program>();
  program->source.assign(source);
  ASSIGN_OR_RETURN(std::vector<TemplateToken> tokens, TokenizeTemplate(program->source));
  ASSIGN_OR_RETURN(program->body, ParseTemplate(program->source, tokens, limits.max_nesting_depth));
  ChatTemplate parsed;
  parsed.program_ = std::move(program);
  parsed.limits_ = limits;
  return parsed;
}

core::Result<std::string> ChatTemplate::Render(const TemplateValue& context,
                                               std::optional<std::chrono::system_clock::time_point> now) const {
  if (!context.is_dict()) return core::InvalidArgument("chat template: the context must be a dict");
  return EvaluateTemplate(program_->body, program_->source, context, limits_,
                          now.value_or(std::chrono::system_clock::now()));
}

core::Result<std::string> RenderChat(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                                     const ChatTemplateOptions& options) {
  TemplateValue::List list;
  for (const ChatMessage& message : messages) {
    TemplateDict entry;
    entry.Set("role", TemplateValue::String(message.role));
    entry.Set("content", TemplateValue::String(message.content));
    list.push_back(TemplateValue::MakeDict(std::move(entry)));
  }
  TemplateDict context;
  context.Set("messages", TemplateValue::MakeList(std::move(list)));
  context.Set("bos_token", TemplateValue::String(options.bos_token));
  context.Set("eos_token", TemplateValue::String(options.eos_token));
  context.Set("add_generation_prompt", TemplateValue::Bool(options.add_generation_prompt));
  for (const auto& [key, value] : options.extra_variables.entries()) context.Set(key, value);
  return chat_template.Render(TemplateValue::MakeDict(std::move(context)), options.now);
}

}  // namespace berth::llm
