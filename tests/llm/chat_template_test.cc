// The chat-template interpreter: language features, whitespace rules, and
// every limit and error path (src/llm/template/).
#include "llm/template/chat_template.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace berth::llm {
namespace {

TemplateValue Messages() {
  TemplateValue::List messages;
  for (auto [role, content] : {std::pair{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}}) {
    TemplateDict message;
    message.Set("role", TemplateValue::String(role));
    message.Set("content", TemplateValue::String(content));
    messages.push_back(TemplateValue::MakeDict(std::move(message)));
  }
  return TemplateValue::MakeList(std::move(messages));
}

TemplateValue Context() {
  TemplateDict context;
  context.Set("messages", Messages());
  context.Set("name", TemplateValue::String("berth"));
  context.Set("n", TemplateValue::Int(3));
  context.Set("none_value", TemplateValue::None());
  return TemplateValue::MakeDict(std::move(context));
}

core::Result<std::string> Render(std::string_view source, const ChatTemplateLimits& limits = {}) {
  ASSIGN_OR_RETURN(ChatTemplate parsed, ChatTemplate::Parse(source, limits));
  return parsed.Render(Context(), std::chrono::system_clock::time_point(std::chrono::seconds(1721995200)));
}

std::string Ok(std::string_view source) {
  auto rendered = Render(source);
  EXPECT_TRUE(rendered.ok()) << source << ": " << rendered.status().message();
  return rendered.ok() ? *rendered : "";
}

std::string ErrorOf(std::string_view source, const ChatTemplateLimits& limits = {}) {
  auto rendered = Render(source, limits);
  EXPECT_FALSE(rendered.ok()) << source << " rendered " << (rendered.ok() ? *rendered : "");
  return rendered.ok() ? "" : rendered.status().message();
}

TEST(ChatTemplate, ExpressionsAndLiterals) {
  EXPECT_EQ(Ok("{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 1 / 2 }} {{ 3 * 1.5 }}"),
            "3 3 -4 1 1024 0.5 4.5");
  EXPECT_EQ(Ok("{{ 'a' ~ 1 ~ true }} {{ 'x' + 'y' }} {{ 'ab' * 3 }} {{ 2.0 }}"), "a1true xy ababab 2.0");
  EXPECT_EQ(Ok(R"({{ "q\"uo\\te\n" }}{{ '\u00e9\x41' }})"), "q\"uo\\te\néA");
  EXPECT_EQ(Ok("{{ [1, 'a', none, true] }} {{ {'k': [1, 2]} }} {{ (1, 2) }}"),
            R"([1, "a", null, true] {"k": [1, 2]} [1, 2])");
  EXPECT_EQ(Ok("{{ true and 'x' }}|{{ false or 0 }}|{{ not none }}|{{ 1 if n > 2 else 2 }}|{{ 'y' if false }}"),
            "x|0|true|1|");
  EXPECT_EQ(Ok("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' not in {'k': 1} }} {{ 1 < 2 <= 2 }}"),
            "true true false true");
  EXPECT_EQ(Ok("{{ name[0] }}{{ name[-1] }} {{ name[1:3] }} {{ name[::-1] }} {{ messages[1:][0].role }}"),
            "bh er htreb user");
  EXPECT_EQ(Ok("{{ messages[0]['content'] }} {{ messages[0].content }} {{ messages|length }}"),
            "Be brief. Be brief. 3");
}

TEST(ChatTemplate, UndefinedIsFalsyAndEmpty) {
  EXPECT_EQ(Ok("[{{ missing }}][{{ missing.attribute.deeper }}][{{ missing is defined }}][{{ n is defined }}]"),
            "[][][false][true]");
  EXPECT_EQ(Ok("{% if missing %}yes{% else %}no{% endif %}{% for x in missing %}x{% else %}empty{% endfor %}"),
            "noempty");
  EXPECT_EQ(Ok("{{ missing | default('fallback') }} {{ '' | default('e', true) }} {{ none_value is none }}"),
            "fallback e true");
  EXPECT_NE(ErrorOf("{{ missing + 1 }}").find("undefined"), std::string::npos);
}

TEST(ChatTemplate, WhitespaceControl) {
  // transformers' trim_blocks and lstrip_blocks, and one final newline dropped.
  EXPECT_EQ(Ok("  {% if true %}\nyes\n  {% endif %}\nend\n"), "yes\nend");
  EXPECT_EQ(Ok("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(Ok("a  {{- 'b' -}}  c {#- comment -#}  d"), "abcd");
  EXPECT_EQ(Ok("x {# comment #}\ny"), "x y");
  EXPECT_EQ(Ok("{% generation %}kept{% endgeneration %}"), "kept");
}

TEST(ChatTemplate, Statements) {
  EXPECT_EQ(Ok("{% if n == 1 %}a{% elif n == 3 %}b{% else %}c{% endif %}"), "b");
  EXPECT_EQ(Ok("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
               "{{ loop.length }}{{ loop.revindex }} {% endfor %}"),
            "10truefalse33 21falsefalse32 32falsetrue31 ");
  EXPECT_EQ(Ok("{% for m in messages if m.role != 'system' %}{{ m.role }}{{ loop.previtem is defined }} {% endfor %}"),
            "userfalse assistanttrue ");
  EXPECT_EQ(Ok("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}"
               "{{ i }}{% endfor %}"),
            "0134");
  EXPECT_EQ(Ok("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(
      Ok("{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}"
         "{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.count }}"),
      "true 3");
  EXPECT_EQ(Ok("{% set a, b = 1, 2 %}{{ a + b }}{% set block %}in {{ name }}{% endset %} {{ block | upper }}"),
            "3 IN BERTH");
  EXPECT_EQ(Ok("{% macro greet(who, punct='!') %}Hi {{ who }}{{ punct }}{% endmacro %}{{ greet('a') }} "
               "{{ greet('b', punct='?') }}"),
            "Hi a! Hi b?");
  EXPECT_EQ(Ok("{% filter upper %}quiet {{ name }}{% endfilter %}"), "QUIET BERTH");
  EXPECT_EQ(Ok("{{ strftime_now('%Y-%m-%d') }}"), "2024-07-26");
}

TEST(ChatTemplate, FiltersAndTests) {
  EXPECT_EQ(Ok("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}"),
            "x|AB|Hello World|Hello");
  EXPECT_EQ(
      Ok("{{ [3, 1, 2] | sort | join(',') }} {{ [1, 2] | first }}{{ [1, 2] | last }} {{ 'aXbX' | replace('X', '-') }}"),
      "1,2,3 12 a-b-");
  EXPECT_EQ(Ok("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}"),
            R"(["Hi"])");
  EXPECT_EQ(Ok("{{ messages | rejectattr('role', 'equalto', 'user') | length }} {{ '42' | int + 1 }} {{ 3 | string }}"),
            "2 43 3");
  EXPECT_EQ(Ok("{{ {'b': 1, 'a': [1, 'é']} | tojson }}"), R"({"b": 1, "a": [1, "é"]})");
  EXPECT_EQ(Ok("{{ {'a': [1], 'b': {}} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(Ok("{{ 'é\"' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"),
            R"("\u00e9\"" {"a": 2, "b": 1})");
  EXPECT_EQ(Ok("{{ {'a': 1} | items | list }} {{ [1, 1, 2] | unique | list }} {{ '<&>' | e }}"),
            "[[\"a\", 1]] [1, 2] &lt;&amp;&gt;");
  EXPECT_EQ(Ok("{{ 'x' is string }}{{ 1 is number }}{{ {} is mapping }}{{ [] is iterable }}{{ 2 is even }}"
               "{{ none_value is not none }}"),
            "truetruetruetruetruefalse");
}

TEST(ChatTemplate, Methods) {
  EXPECT_EQ(
      Ok("{{ '  a b  '.strip() }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}"),
      "a b|x\n|x|[\"a\", \"b\", \"\", \"c\"]");
  EXPECT_EQ(Ok("{{ ' a  b '.split() }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}"),
            R"(["a", "b"] true true)");
  EXPECT_EQ(Ok("{{ 'Ab'.upper() }}{{ 'Ab'.lower() }} {{ 'a-a'.replace('a', 'b', 1) }} {{ 'ab cd'.title() }}"),
            "ABab b-a Ab Cd");
  EXPECT_EQ(Ok("{{ messages[0].get('role') }} {{ messages[0].get('x', 'd') }} {{ messages[0].get('x') }} "
               "{{ messages[0].keys() | list }}"),
            R"(system d  ["role", "content"])");
}

TEST(ChatTemplate, RaiseExceptionFailsWithTheMessage) {
  std::string error = ErrorOf("{% if n == 3 %}{{ raise_exception('System role not supported') }}{% endif %}");
  EXPECT_NE(error.find("System role not supported"), std::string::npos) << error;
}

TEST(ChatTemplate, ParseErrorsNameLineAndColumn) {
  EXPECT_NE(ErrorOf("line one\n{% if %}").find("line 2, column"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'open").find("not closed"), std::string::npos);
  EXPECT_NE(ErrorOf("{% frobnicate %}").find("unknown statement 'frobnicate'"), std::string::npos);
  EXPECT_NE(ErrorOf("{% if true %}never closed").find("endif"), std::string::npos);
  EXPECT_NE(ErrorOf("{# never closed").find("comment"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 1 $ 2 }}").find("line 1, column 6"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 99999999999999999999 }}").find("out of range"), std::string::npos);
}

TEST(ChatTemplate, RuntimeErrors) {
  EXPECT_NE(ErrorOf("{{ 1 / 0 }}").find("division by zero"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 9223372036854775807 + 1 }}").find("overflow"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'x' | nosuchfilter }}").find("unknown filter"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 1 is nosuchtest }}").find("unknown test"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ n() }}").find("cannot call"), std::string::npos);
  EXPECT_NE(ErrorOf("{% set n.x = 1 %}").find("namespace"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ range(1, 2, 0) }}").find("zero"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ [1] < 'a' }}").find("compare"), std::string::npos);
}

TEST(ChatTemplate, LimitsEndWithErrors) {
  ChatTemplateLimits limits;
  limits.max_template_bytes = 16;
  EXPECT_NE(ErrorOf("{{ 'more than sixteen bytes' }}", limits).find("over the limit"), std::string::npos);

  EXPECT_NE(ErrorOf("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}").find("nested deeper"),
            std::string::npos);
  std::string long_sum = "{{ 1";
  for (int i = 0; i < 300; ++i) long_sum += " + 1";
  EXPECT_NE(ErrorOf(long_sum + " }}").find("nested deeper"), std::string::npos);
  std::string deep_ifs;
  for (int i = 0; i < 300; ++i) deep_ifs += "{% if true %}";
  EXPECT_NE(ErrorOf(deep_ifs).find("nested deeper"), std::string::npos);

  EXPECT_NE(ErrorOf("{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}").find("deeper than 32"), std::string::npos);
  EXPECT_NE(ErrorOf("{% for i in range(2000000) %}{% endfor %}").find("loop iterations"), std::string::npos);
  limits = {};
  limits.max_loop_iterations = 10000;
  EXPECT_NE(ErrorOf("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}{% endfor %}"
                    "{% endfor %}{% endfor %}",
                    limits)
                .find("loop iterations"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("{% macro f(d) %}{% if d < 30 %}{{ f(d + 1) }}{{ f(d + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", limits)
          .find("loop iterations"),
      std::string::npos);

  limits = {};
  limits.max_output_bytes = 1000;
  EXPECT_NE(ErrorOf("{% for i in range(100) %}0123456789abcdef{% endfor %}", limits).find("limit of 1000 bytes"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("{% set s = namespace(t='ab') %}{% for i in range(64) %}{% set s.t = s.t ~ s.t %}{% endfor %}", limits)
          .find("limit"),
      std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'x' * 100000 }}", limits).find("limit"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ ('x' * 500).replace('x', 'yyyyy') }}", limits).find("limit"), std::string::npos);
  EXPECT_NE(
      ErrorOf("{% set s = namespace(l=[1]) %}{% for i in range(64) %}{% set s.l = s.l + s.l %}{% endfor %}", limits)
          .find("limit"),
      std::string::npos);
  // Lists that share themselves, or nest deeply: writing one out is bounded.
  EXPECT_NE(ErrorOf("{% set s = namespace(l=[1]) %}{% for i in range(40) %}{% set s.l = [s.l, s.l] %}{% endfor %}"
                    "{{ s.l }}")
                .find("loop iterations"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{% set s = namespace(l=[1]) %}{% for i in range(300) %}{% set s.l = [s.l] %}{% endfor %}"
                    "{{ s.l }}")
                .find("nested deeper than"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{% set s = namespace(l=[1]) %}{% for i in range(30) %}{% set s.l = [s.l, s.l] %}{% endfor %}"
                    "{{ s.l == s.l }}")
                .find("loop iterations"),
            std::string::npos);
}

TEST(ChatTemplate, RenderChatSetsTheVariablesTemplatesExpect) {
  auto parsed = ChatTemplate::Parse(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ tools is defined }}{{ extra }}");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ChatTemplateOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  auto text = RenderChat(*parsed, {{"user", "Hi"}}, options);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "<s><user>Hi</s><assistant>false");
  options.add_generation_prompt = false;
  options.extra_variables.Set("tools", TemplateValue::MakeList({}));
  options.extra_variables.Set("extra", TemplateValue::Int(7));
  text = RenderChat(*parsed, {{"user", "Hi"}}, options);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<s><user>Hi</s>true7");
}

TEST(ChatTemplate, ConcurrentRendersShareOneTemplate) {
  auto parsed = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content }}{% endfor %}"
      "{{ ns.n }}");
  ASSERT_TRUE(parsed.ok());
  TemplateValue context = Context();
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto text = parsed->Render(context);
        results[t] = text.ok() ? *text : text.status().message();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) EXPECT_EQ(result, "Be brief.HiHello3");
}

}  // namespace
}  // namespace berth::llm
