// Renders a parsed chat template (template_parser.h) with a context. One
// TemplateEvaluator serves one render; the tree and the context are only
// read, so renders of one template may run on several threads at once.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/template/chat_template.h"
#include "llm/template/template_ast.h"
#include "llm/template/template_value.h"

namespace berth::llm {

core::Result<std::string> EvaluateTemplate(const std::vector<TemplateNodePtr>& program, std::string_view source,
                                           const TemplateValue& context, const ChatTemplateLimits& limits,
                                           std::chrono::system_clock::time_point now);

}  // namespace berth::llm
