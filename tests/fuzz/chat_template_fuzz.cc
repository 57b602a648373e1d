// Fuzz target: arbitrary bytes as a chat template (a model file's
// tokenizer.chat_template is untrusted), parsed and, when it parses,
// rendered with a small conversation, under tight limits so that each input
// stays fast. Any failure must be a Status; crashes, hangs and unbounded
// memory are the findings.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "llm/template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using berth::llm::TemplateValue;
  berth::llm::ChatTemplateLimits limits;
  limits.max_template_bytes = 64 << 10;
  limits.max_loop_iterations = 20000;
  limits.max_output_bytes = 1 << 20;
  auto parsed = berth::llm::ChatTemplate::Parse(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (!parsed.ok()) return 0;
  berth::llm::ChatTemplateOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  berth::llm::TemplateDict tool;
  tool.Set("name", TemplateValue::String("get_weather"));
  tool.Set("parameters", TemplateValue::MakeDict({}));
  options.extra_variables.Set("tools", TemplateValue::MakeList({TemplateValue::MakeDict(std::move(tool))}));
  options.now = std::chrono::system_clock::time_point(std::chrono::seconds(1721995200));
  auto rendered = berth::llm::RenderChat(
      *parsed, {{"system", "Be brief."}, {"user", "Hi \"there\" ✓"}, {"assistant", "Hello."}, {"user", "Bye"}},
      options);
  (void)rendered;
  return 0;
}
