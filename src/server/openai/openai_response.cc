#include "server/openai/openai_response.h"

#include "core/utf8.h"
#include "server/json/json_util.h"

namespace berth::server {
namespace {

void WriteString(JsonWriter& w, std::string_view text) {
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void WriteBytes(JsonWriter& w, std::string_view text) {
  w.Key("bytes");
  w.StartArray();
  for (unsigned char c : text) w.Uint(c);
  w.EndArray();
}

void WriteHead(JsonWriter& w, const ResponseHead& head, std::string_view object) {
  w.Key("id");
  WriteString(w, head.id);
  w.Key("object");
  WriteString(w, object);
  w.Key("created");
  w.Int64(head.created);
  w.Key("model");
  WriteString(w, head.model);
  w.Key("system_fingerprint");
  WriteString(w, head.fingerprint);
}

// A token's text may end inside a UTF-8 character: JSON strings cannot hold
// that, so the text is made valid and the raw bytes go in "bytes".
std::string TokenText(const std::string& text) { return core::ValidUtf8(text); }

// Chat: {"content": [{"token","logprob","bytes","top_logprobs":[...]}]}.
void WriteChatLogprobs(JsonWriter& w, const std::vector<GeneratedToken>& tokens) {
  w.StartObject();
  w.Key("content");
  w.StartArray();
  for (const GeneratedToken& token : tokens) {
    w.StartObject();
    w.Key("token");
    WriteString(w, TokenText(token.text));
    w.Key("logprob");
    WriteFloat(w, token.logprob);
    WriteBytes(w, token.text);
    w.Key("top_logprobs");
    w.StartArray();
    for (const auto& [text, logprob] : token.top) {
      w.StartObject();
      w.Key("token");
      WriteString(w, TokenText(text));
      w.Key("logprob");
      WriteFloat(w, logprob);
      WriteBytes(w, text);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

// Completions: {"tokens","token_logprobs","top_logprobs","text_offset"}.
void WriteCompletionLogprobs(JsonWriter& w, const std::vector<GeneratedToken>& tokens, size_t offset) {
  w.StartObject();
  w.Key("tokens");
  w.StartArray();
  for (const GeneratedToken& token : tokens) WriteString(w, TokenText(token.text));
  w.EndArray();
  w.Key("token_logprobs");
  w.StartArray();
  for (const GeneratedToken& token : tokens) WriteFloat(w, token.logprob);
  w.EndArray();
  w.Key("top_logprobs");
  w.StartArray();
  for (const GeneratedToken& token : tokens) {
    w.StartObject();
    for (const auto& [text, logprob] : token.top) {
      const std::string key = TokenText(text);
      w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
      WriteFloat(w, logprob);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("text_offset");
  w.StartArray();
  for (const GeneratedToken& token : tokens) {
    w.Uint64(offset);
    offset += token.text.size();
  }
  w.EndArray();
  w.EndObject();
}

void WriteFinish(JsonWriter& w, FinishReason finish) {
  w.Key("finish_reason");
  if (finish == FinishReason::kNone) {
    w.Null();
  } else {
    WriteString(w, FinishReasonName(finish));
  }
}

void WriteLogprobs(JsonWriter& w, bool chat, const ChoiceText& choice) {
  w.Key("logprobs");
  if (!choice.tokens) {
    w.Null();
  } else if (chat) {
    WriteChatLogprobs(w, *choice.tokens);
  } else {
    WriteCompletionLogprobs(w, *choice.tokens, choice.text_offset);
  }
}

void WriteUsage(JsonWriter& w, const GenerationUsage& usage) {
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int64(usage.prompt_tokens);
  w.Key("completion_tokens");
  w.Int64(usage.completion_tokens);
  w.Key("total_tokens");
  w.Int64(usage.prompt_tokens + usage.completion_tokens);
  w.Key("prompt_tokens_details");
  w.StartObject();
  w.Key("cached_tokens");
  w.Int64(usage.cached_prompt_tokens);
  w.EndObject();
  w.EndObject();
}

// One element of "choices": the chat message (or a stream's delta) or the
// text, then logprobs and finish_reason.
void WriteChoice(JsonWriter& w, const ResponseHead& head, const ChoiceText& choice, bool delta, bool role) {
  w.StartObject();
  w.Key("index");
  w.Int(choice.index);
  if (head.chat) {
    w.Key(delta ? "delta" : "message");
    w.StartObject();
    if (role) {
      w.Key("role");
      w.String("assistant");
    }
    if (!delta || role || !choice.text.empty() || (choice.tokens && !choice.tokens->empty())) {
      w.Key("content");
      WriteString(w, choice.text);
    }
    w.EndObject();
  } else {
    w.Key("text");
    WriteString(w, choice.text);
  }
  WriteLogprobs(w, head.chat, choice);
  WriteFinish(w, choice.finish);
  w.EndObject();
}

// {"object":"list","data":[ ... (the caller ends the array and the object).
void StartList(JsonWriter& w) {
  w.StartObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.StartArray();
}

// A stream chunk's object up to its "choices" array, open.
void StartChunk(JsonWriter& w, const ResponseHead& head) {
  w.StartObject();
  WriteHead(w, head, head.chat ? "chat.completion.chunk" : "text_completion");
  w.Key("choices");
  w.StartArray();
}

std::string Event(const std::string& json) { return "data: " + json + "\n\n"; }

}  // namespace

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kNone:
      break;
  }
  return "";
}

std::string CompletionBody(const ResponseHead& head, const std::vector<ChoiceText>& choices,
                           const GenerationUsage& usage) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  w.StartObject();
  WriteHead(w, head, head.chat ? "chat.completion" : "text_completion");
  w.Key("choices");
  w.StartArray();
  for (const ChoiceText& choice : choices) WriteChoice(w, head, choice, /*delta=*/false, /*role=*/true);
  w.EndArray();
  WriteUsage(w, usage);
  w.EndObject();
  return out;
}

std::string ChunkEvent(const ResponseHead& head, const ChoiceText& choice, bool role, bool with_usage) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  StartChunk(w, head);
  WriteChoice(w, head, choice, /*delta=*/true, role);
  w.EndArray();
  if (with_usage) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return Event(out);
}

std::string UsageEvent(const ResponseHead& head, const GenerationUsage& usage) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  StartChunk(w, head);
  w.EndArray();
  WriteUsage(w, usage);
  w.EndObject();
  return Event(out);
}

std::string ErrorEvent(std::string_view error_json) { return Event(std::string(error_json)); }

namespace {

std::string Base64(const void* data, size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    const uint32_t chunk = uint32_t{bytes[i]} << 16 | (i + 1 < size ? uint32_t{bytes[i + 1]} << 8 : 0) |
                           (i + 2 < size ? uint32_t{bytes[i + 2]} : 0);
    out += kAlphabet[chunk >> 18 & 63];
    out += kAlphabet[chunk >> 12 & 63];
    out += i + 1 < size ? kAlphabet[chunk >> 6 & 63] : '=';
    out += i + 2 < size ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

}  // namespace

std::string EmbeddingBody(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                          int64_t prompt_tokens) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  StartList(w);
  for (size_t i = 0; i < vectors.size(); ++i) {
    w.StartObject();
    w.Key("object");
    w.String("embedding");
    w.Key("index");
    w.Uint64(i);
    w.Key("embedding");
    if (base64) {
      // x86-64 is little-endian, as OpenAI's float32 bytes are.
      WriteString(w, Base64(vectors[i].data(), vectors[i].size() * sizeof(float)));
    } else {
      w.StartArray();
      for (float v : vectors[i]) WriteFloat(w, v);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("model");
  WriteString(w, model);
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int64(prompt_tokens);
  w.Key("total_tokens");
  w.Int64(prompt_tokens);
  w.EndObject();
  w.EndObject();
  return out;
}

namespace {

void WriteModel(JsonWriter& w, const ModelCard& model) {
  w.StartObject();
  w.Key("id");
  WriteString(w, model.id);
  w.Key("object");
  w.String("model");
  w.Key("created");
  w.Int64(model.created);
  w.Key("owned_by");
  w.String("berth");
  w.Key("max_model_len");
  w.Int64(model.context_size);
  w.EndObject();
}

}  // namespace

std::string ModelListBody(const std::vector<ModelCard>& models) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  StartList(w);
  for (const ModelCard& model : models) WriteModel(w, model);
  w.EndArray();
  w.EndObject();
  return out;
}

std::string ModelBody(const ModelCard& model) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  WriteModel(w, model);
  return out;
}

}  // namespace berth::server
