#include "llm/tokenizer/tokenizer_config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <set>
#include <string_view>

namespace berth::llm {
namespace {

// One tokenizer.ggml.pre value for byte-level BPE and what llama.cpp makes
// of it (the pre-tokenizer and the flags set with it).
struct PreType {
  std::string_view name;
  PreTokenizerKind kind;
  bool clean_spaces;
  bool ignore_merges = false;
  bool add_bos = false;  // the default when add_bos_token is absent
  bool no_bos = false;   // no default BOS id
};

using K = PreTokenizerKind;
constexpr PreType kPreTypes[] = {
    {"default", K::kDefault, true},
    // GPT-2's expression.
    {"gpt-2", K::kGpt2, true},
    {"gpt2", K::kGpt2, true},  // not a llama.cpp name (it refuses it); GPT-2's own
    {"phi-2", K::kGpt2, true},
    {"mpt", K::kGpt2, true},
    {"olmo", K::kGpt2, true},
    {"jais", K::kGpt2, true},
    {"jina-es", K::kGpt2, true},
    {"jina-de", K::kGpt2, true},
    {"jina-v2-es", K::kGpt2, true},
    {"jina-v2-de", K::kGpt2, true},
    {"jina-v1-en", K::kGpt2, true},
    {"jina-v2-code", K::kGpt2, true},
    {"roberta-bpe", K::kGpt2, true},
    {"gigachat", K::kGpt2, true},
    {"a.x-4.0", K::kGpt2, true},
    {"mellum", K::kGpt2, true},
    {"modern-bert", K::kGpt2, true},
    {"exaone4", K::kGpt2, true},
    {"trillion", K::kGpt2, false},
    {"granite-docling", K::kGpt2, false},
    // Llama 3's expression.
    {"llama3", K::kLlama3, true, true, true},
    {"llama-v3", K::kLlama3, true, true, true},
    {"llama-bpe", K::kLlama3, true, true, true},
    {"falcon3", K::kLlama3, true, true, true},
    {"falcon-h1", K::kLlama3, true, true, true},
    {"pixtral", K::kLlama3, true, true, true},
    {"midm-2.0", K::kLlama3, true, true, true},
    {"lfm2", K::kLlama3, true, true, true},
    {"jina-v5-nano", K::kLlama3, true, true, true},
    {"dbrx", K::kLlama3, true},
    {"smaug-bpe", K::kLlama3, true},
    {"glm4", K::kLlama3, true, false, false, true},
    {"chatglm-bpe", K::kLlama3, true, false, false, true},
    // Qwen 2's.
    {"qwen2", K::kQwen2, false},
    {"deepseek-r1-qwen", K::kQwen2, false},
    {"kormo", K::kQwen2, false},
    {"f2llmv2", K::kQwen2, false},
    {"megrez", K::kQwen2, true},
    {"stablelm2", K::kQwen2, true},
    {"hunyuan", K::kQwen2, false},
    {"solar-open", K::kQwen2, false},
    {"grok-2", K::kQwen2, false},
    {"qwen35", K::kQwen35, false},
    // \p{N} isolated, then GPT-2's.
    {"starcoder", K::kStarcoder, true},
    {"refact", K::kStarcoder, true},
    {"codeshell", K::kStarcoder, true},
    {"exaone", K::kStarcoder, true},
    {"minerva-7b", K::kStarcoder, true},
    {"mellum2", K::kStarcoder, true},
    {"command-r", K::kStarcoder, false},
    {"smollm", K::kStarcoder, false},
    {"falcon", K::kFalcon, true},
    {"deepseek-coder", K::kDeepseekCoder, false},
    {"deepseek-llm", K::kDeepseekLlm, false},
};

// Texts by which llama.cpp recognises special tokens the file does not name.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "<|end_of_text|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "<\xef\xbd\x9c"
                                          "end\xe2\x96\x81"
                                          "of\xe2\x96\x81"
                                          "sentence\xef\xbd\x9c>",
                                          "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>",
                                             "<fim-prefix>",
                                             "<fim_prefix>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81"
                                             "begin\xef\xbd\x9c>",
                                             "<PRE>",
                                             "\xe2\x96\x81<PRE>",
                                             "<|code_prefix|>",
                                             "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>",
                                             "<fim-suffix>",
                                             "<fim_suffix>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81"
                                             "hole\xef\xbd\x9c>",
                                             "<SUF>",
                                             "\xe2\x96\x81<SUF>",
                                             "<|code_suffix|>",
                                             "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>",
                                             "<fim-middle>",
                                             "<fim_middle>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81"
                                             "end\xef\xbd\x9c>",
                                             "<MID>",
                                             "\xe2\x96\x81<MID>",
                                             "<|code_middle|>",
                                             "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
constexpr std::string_view kEndOfGenerationTexts[] = {"<|eot_id|>",
                                                      "<|im_end|>",
                                                      "<|end|>",
                                                      "<|return|>",
                                                      "<|call|>",
                                                      "<|flush|>",
                                                      "<|calls|>",
                                                      "<end_of_turn>",
                                                      "<|endoftext|>",
                                                      "</s>",
                                                      "<|eom_id|>",
                                                      "<EOT>",
                                                      "_<EOT>",
                                                      "[EOT]",
                                                      "[EOS]",
                                                      "<|end_of_text|>",
                                                      "<end_of_utterance>",
                                                      "<eos>",
                                                      "<turn|>",
                                                      "<|tool_response>",
                                                      "<\xef\xbd\x9c"
                                                      "end\xe2\x96\x81"
                                                      "of\xe2\x96\x81"
                                                      "sentence\xef\xbd\x9c>",
                                                      "[e~["};
// gpt-oss's channel tokens, which llama.cpp always renders.
constexpr std::string_view kAlwaysRenderedTexts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

template <size_t N>
bool OneOf(std::string_view text, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A default special-token id, or -1 when it lies outside the vocabulary.
int32_t DefaultId(int32_t id, const TokenTable& table) { return id < table.size() ? id : -1; }

// The token whose text is one of `texts`, or -1. Where the vocabulary has
// several, llama.cpp takes the first its token map iterates to; so does
// this (building that order only then).
template <size_t N>
int32_t FindFirstOf(const TokenTable& table, const std::string_view (&texts)[N],
                    std::optional<std::vector<std::pair<std::string_view, int32_t>>>* order) {
  std::vector<int32_t> found;
  for (std::string_view text : texts) {
    if (const int32_t id = table.Find(text); id >= 0) found.push_back(id);
  }
  if (found.size() < 2) return found.empty() ? -1 : found[0];
  if (!order->has_value()) *order = table.InLlamaCppOrder();
  for (const auto& [text, id] : **order) {
    if (OneOf(text, texts)) return id;
  }
  return -1;
}

// The loader's detection of special tokens by their text, and the
// attributes it changes on the way (in llama.cpp's order).
void DetectSpecialTokens(const Vocabulary& vocab, TokenTable* table, TokenizerConfig* c) {
  int32_t fim_pre = vocab.fim_pre.value_or(-1), fim_suf = vocab.fim_suf.value_or(-1);
  int32_t fim_mid = vocab.fim_mid.value_or(-1), fim_pad = vocab.fim_pad.value_or(-1);
  int32_t fim_rep = vocab.fim_rep.value_or(-1), fim_sep = vocab.fim_sep.value_or(-1);
  auto make_control = [table](int32_t id) { table->set_attr(id, table->attr(id) | kAttrControl); };
  std::optional<std::vector<std::pair<std::string_view, int32_t>>> order;
  auto detect = [&](int32_t* slot, const auto& texts) {
    if (*slot != -1) return;
    *slot = FindFirstOf(*table, texts, &order);
    if (*slot >= 0) make_control(*slot);
  };
  detect(&c->eot, kEotTexts);
  detect(&c->eom, kEomTexts);
  detect(&fim_pre, kFimPreTexts);
  detect(&fim_suf, kFimSufTexts);
  detect(&fim_mid, kFimMidTexts);
  detect(&fim_pad, kFimPadTexts);
  detect(&fim_rep, kFimRepTexts);
  detect(&fim_sep, kFimSepTexts);
  // Control tokens named "unused" (llama.cpp visits one token per text).
  for (int32_t id = 0; id < table->size(); ++id) {
    const std::string_view text = table->text(id);
    if ((table->attr(id) & kAttrControl) && text.find("unused") != std::string_view::npos && table->Find(text) == id) {
      table->set_attr(id, table->attr(id) | kAttrUnused);
    }
  }
  std::set<int32_t> eog;
  for (int32_t id : {fim_pad, fim_rep, fim_sep}) {
    if (id >= 0) eog.insert(id);
  }
  for (std::string_view text : kEndOfGenerationTexts) {
    if (const int32_t id = table->Find(text); id >= 0) {
      eog.insert(id);
      make_control(id);
    }
  }
  for (std::string_view text : kAlwaysRenderedTexts) {
    if (const int32_t id = table->Find(text); id >= 0) table->set_attr(id, kAttrUserDefined);
  }
  for (int32_t id : {c->eos, c->eot, c->eom}) {
    if (id >= 0) eog.insert(id);
  }
  // o200k_harmony and solar-open: <|end|> ends a message, not generation.
  bool has_return = false, has_call = false, has_flush = false, has_tool_response = false;
  int32_t end_id = -1, s_id = -1;
  for (int32_t id : eog) {
    std::string_view text = table->text(id);
    has_return |= text == "<|return|>";
    has_call |= text == "<|call|>" || text == "<|calls|>";
    has_flush |= text == "<|flush|>";
    has_tool_response |= text == "<|tool_response>";
    if (text == "<|end|>") end_id = id;
    if (text == "</s>") s_id = id;
  }
  if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
    eog.erase(end_id);
    table->set_attr(end_id, kAttrUserDefined);
  }
  // Gemma 4 and PaddleOCR: </s> is plain text.
  if (has_tool_response && s_id >= 0) {
    eog.erase(s_id);
    table->set_attr(s_id, kAttrNormal);
  }
  c->end_of_generation.assign(eog.begin(), eog.end());
}

// Special tokens in the order llama.cpp splits them out: longest first,
// ties as std::sort leaves them (the same library's sort on the same
// input gives the same order).
std::vector<int32_t> SpecialTokenOrder(const TokenTable& table) {
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < table.size(); ++id) {
    if (table.attr(id) & (kAttrControl | kAttrUserDefined | kAttrUnknown)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end(),
            [&table](int32_t a, int32_t b) { return table.text(a).size() > table.text(b).size(); });
  return ids;
}

// Whitespace around some special tokens is dropped when they are split out
// of the text; llama.cpp decides which by model and pre-tokenizer name.
void SetStripAttributes(const Vocabulary& vocab, const TokenizerConfig& c, TokenTable* table) {
  auto set = [table](std::string_view text, uint16_t attr, bool on) {
    const int32_t id = table->Find(text);
    if (id < 0) return;
    table->set_attr(id, on ? table->attr(id) | attr : table->attr(id) & ~attr);
  };
  const std::string name = Lowercase(vocab.name);
  if (vocab.pre.find("jina-v2-de") != std::string::npos || vocab.pre.find("jina-v2-es") != std::string::npos ||
      vocab.pre.find("jina-v2-code") != std::string::npos) {
    set("<mask>", kAttrLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : c.special_tokens) table->set_attr(id, table->attr(id) | kAttrRstrip);
    set("</s>", kAttrRstrip, true);
    for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) set(text, kAttrRstrip, false);
  } else if (name.find("modern-bert") != std::string::npos) {
    set("[MASK]", kAttrLstrip, true);
  }
}

}  // namespace

std::string SupportedPreTokenizers() {
  std::string names;
  for (const PreType& type : kPreTypes) {
    if (!names.empty()) names += ", ";
    names += type.name;
  }
  return names;
}

core::Result<TokenizerConfig> ResolveTokenizerConfig(const Vocabulary& vocab, TokenTable* table) {
  TokenizerConfig c;
  int32_t default_bos = -1, default_eos = -1, default_unk = -1;
  bool default_add_bos = false;
  if (vocab.model == "llama") {
    c.family = TokenizerFamily::kSentencePiece;
    c.add_space_prefix = true;
    default_add_bos = true;
    default_bos = DefaultId(1, *table);
    default_eos = DefaultId(2, *table);
    default_unk = DefaultId(0, *table);
  } else if (vocab.model == "gpt2") {
    c.family = TokenizerFamily::kBytePairs;
    const std::string_view pre = vocab.pre.empty() ? "default" : std::string_view(vocab.pre);
    const PreType* type = nullptr;
    for (const PreType& t : kPreTypes) {
      if (t.name == pre) type = &t;
    }
    if (!type) {
      return core::InvalidArgument("tokenizer.ggml.pre '{}' is not supported (supported: {})", vocab.pre,
                                   SupportedPreTokenizers());
    }
    if (vocab.merges.empty()) return core::InvalidArgument("a BPE vocabulary without tokenizer.ggml.merges");
    c.pre = type->kind;
    c.clean_spaces = type->clean_spaces;
    c.ignore_merges = type->ignore_merges;
    default_add_bos = type->add_bos;
    // llama.cpp's defaults for BPE files that name no BOS/EOS (token 11).
    default_bos = type->no_bos ? -1 : DefaultId(11, *table);
    default_eos = DefaultId(11, *table);
  } else {
    return core::InvalidArgument("tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2)", vocab.model);
  }
  c.add_space_prefix = vocab.add_space_prefix.value_or(c.add_space_prefix);
  c.add_bos = vocab.add_bos_token.value_or(default_add_bos);
  c.add_eos = vocab.add_eos_token.value_or(false);
  c.bos = vocab.bos.value_or(default_bos);
  c.eos = vocab.eos.value_or(default_eos);
  c.unk = vocab.unk.value_or(default_unk);
  c.eot = vocab.eot.value_or(-1);
  c.eom = vocab.eom.value_or(-1);
  if (c.add_bos && c.bos < 0) return core::InvalidArgument("the vocabulary adds a BOS token but has none");
  if (c.add_eos && c.eos < 0) return core::InvalidArgument("the vocabulary adds an EOS token but has none");
  DetectSpecialTokens(vocab, table, &c);
  c.special_tokens = SpecialTokenOrder(*table);
  SetStripAttributes(vocab, c, table);
  return c;
}

}  // namespace berth::llm
