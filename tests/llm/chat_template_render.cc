// Renders chat templates for tests/llm/chat_template_oracle_test.py:
//
//   chat_template_render CASES.json NOW_SECONDS
//
// CASES.json is {"templates": {NAME: PATH}, "cases": [{"template": NAME,
// "context": {...}}]}; each context's `messages` (role and content), tokens
// and `add_generation_prompt` go through RenderChat, any other entry as an
// extra variable. Prints a JSON list, per case {"ok": true, "text": ...} or
// {"ok": false, "error": ...}.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "llm/template/chat_template.h"

namespace {

using berth::llm::TemplateDict;
using berth::llm::TemplateValue;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TemplateValue FromJson(const rapidjson::Value& json) {
  if (json.IsNull()) return TemplateValue::None();
  if (json.IsBool()) return TemplateValue::Bool(json.GetBool());
  if (json.IsInt64()) return TemplateValue::Int(json.GetInt64());
  if (json.IsNumber()) return TemplateValue::Float(json.GetDouble());
  if (json.IsString()) return TemplateValue::String(std::string(json.GetString(), json.GetStringLength()));
  if (json.IsArray()) {
    TemplateValue::List items;
    for (const auto& item : json.GetArray()) items.push_back(FromJson(item));
    return TemplateValue::MakeList(std::move(items));
  }
  TemplateDict dict;
  for (const auto& member : json.GetObject()) {
    dict.Set(std::string(member.name.GetString(), member.name.GetStringLength()), FromJson(member.value));
  }
  return TemplateValue::MakeDict(std::move(dict));
}

berth::core::Result<std::string> RenderCase(const berth::llm::ChatTemplate& chat_template,
                                            const rapidjson::Value& context,
                                            std::chrono::system_clock::time_point now) {
  std::vector<berth::llm::ChatMessage> messages;
  berth::llm::ChatTemplateOptions options;
  options.now = now;
  for (const auto& member : context.GetObject()) {
    std::string name = member.name.GetString();
    if (name == "messages") {
      for (const auto& message : member.value.GetArray()) {
        messages.push_back({message["role"].GetString(), message["content"].GetString()});
      }
    } else if (name == "bos_token") {
      options.bos_token = member.value.GetString();
    } else if (name == "eos_token") {
      options.eos_token = member.value.GetString();
    } else if (name == "add_generation_prompt") {
      options.add_generation_prompt = member.value.GetBool();
    } else {
      options.extra_variables.Set(name, FromJson(member.value));
    }
  }
  return berth::llm::RenderChat(chat_template, messages, options);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: chat_template_render CASES.json NOW_SECONDS\n");
    return 2;
  }
  rapidjson::Document cases;
  std::string text = ReadFile(argv[1]);
  if (cases.Parse(text.data(), text.size()).HasParseError()) {
    std::fprintf(stderr, "%s: not JSON\n", argv[1]);
    return 2;
  }
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(argv[2])));
  std::map<std::string, berth::core::Result<berth::llm::ChatTemplate>> templates;
  for (const auto& entry : cases["templates"].GetObject()) {
    templates.emplace(entry.name.GetString(), berth::llm::ChatTemplate::Parse(ReadFile(entry.value.GetString())));
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartArray();
  for (const auto& one : cases["cases"].GetArray()) {
    const auto& parsed = templates.at(one["template"].GetString());
    auto rendered = parsed.ok() ? RenderCase(*parsed, one["context"], now) : parsed.status();
    out.StartObject();
    out.Key("ok");
    out.Bool(rendered.ok());
    out.Key(rendered.ok() ? "text" : "error");
    const std::string& value = rendered.ok() ? *rendered : rendered.status().message();
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    out.EndObject();
  }
  out.EndArray();
  std::fwrite(buffer.GetString(), 1, buffer.GetSize(), stdout);
  return 0;
}
