// The chat-template parser: tokens to a tree (template_ast.h), following
// @huggingface/jinja's grammar and precedence so that templates mean what
// they mean there. Nesting is bounded (max_height: the tree's height; the
// parser's own recursion likewise), so neither parsing, rendering nor
// freeing a tree can exhaust the stack.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/template/template_ast.h"
#include "llm/template/template_lexer.h"

namespace berth::llm {

core::Result<std::vector<TemplateNodePtr>> ParseTemplate(std::string_view source,
                                                         const std::vector<TemplateToken>& tokens, int max_height);

}  // namespace berth::llm
