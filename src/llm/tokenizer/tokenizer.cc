#include "llm/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <optional>

#include "llm/tokenizer/bpe_encoder.h"
#include "llm/tokenizer/pre_tokenizer.h"
#include "llm/tokenizer/spm_encoder.h"
#include "llm/tokenizer/token_table.h"
#include "llm/tokenizer/tokenizer_config.h"
#include "llm/tokenizer/unicode.h"

namespace berth::llm {

struct Tokenizer::State {
  TokenTable table;
  TokenizerConfig config;
  std::optional<BpeEncoder> bpe;
  std::array<int32_t, 256> spm_byte_tokens{};  // SentencePiece: the token for each byte (-1: none)
  bool spm_split_at_spaces = false;            // SentencePiece: SpacesOnlyLead
  // Each token's piece as llama.cpp caches it (special = true), back to back.
  std::string pieces;
  std::vector<size_t> piece_offsets;
};

namespace {

constexpr std::string_view kSpaceMark = "\xe2\x96\x81";  // ▁, SentencePiece's space

// A stretch of the text still to tokenize, or a special token split out of it.
struct Fragment {
  int32_t token;  // -1 for text
  size_t offset;
  size_t length;
};

// isspace() in the C locale, which llama.cpp's l/rstrip use.
bool IsCSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// The text of a BPE token: its characters read back as bytes through GPT-2's
// byte alphabet. A character outside the alphabet comes out as llama.cpp
// writes it: "[UNK_BYTE_0x<hex of the character>" + the token + "]".
std::string DecodeByteAlphabet(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    const uint32_t cp = unicode::NextLenient(text, &pos);
    const int byte = unicode::ByteOfCodepoint(cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
      continue;
    }
    std::string utf8;
    unicode::AppendUtf8(cp, &utf8);
    out += "[UNK_BYTE_0x";
    for (char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    out.append(text).push_back(']');
  }
  return out;
}

std::string ComputePiece(const TokenTable& table, const TokenizerConfig& config, const Vocabulary& vocab, int32_t id) {
  const uint16_t attr = table.attr(id);
  const std::string_view text = table.text(id);
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return std::string(text);
  if (attr & kAttrNormal) {
    if (config.family == TokenizerFamily::kBytePairs) return DecodeByteAlphabet(text);
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
        out.push_back(' ');
        i += kSpaceMark.size();
      } else {
        out.push_back(text[i++]);
      }
    }
    return out;
  }
  if ((attr & kAttrByte) && vocab.byte_of[id] >= 0) return std::string(1, static_cast<char>(vocab.byte_of[id]));
  return "";
}

// llama.cpp's clean_up_tokenization_spaces, in place and in its three passes
// (the same reads and writes on the same buffer, so the same result in the
// corner cases its passes create, such as " ' ' ").
void CleanSpaces(std::string* buffer) {
  std::string& text = *buffer;
  size_t total = text.size();
  const size_t total1 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total1; ++i) {  // " ?" " !" " ." " ,"
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    text[total++] = x;
  }
  const size_t total2 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total2; ++i) {  // " ' " becomes "'"
    const char x = text[i];
    if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --total;
      text[++i] = '\0';
    }
    text[total++] = x;
  }
  const size_t total3 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total3; ++i) {  // " 's" " 'm" " 're" " 've" lose the space
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
        const char x2 = text[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    text[total++] = x;
  }
  text.resize(total);
}

}  // namespace

core::Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(const Vocabulary& vocabulary) {
  ASSIGN_OR_RETURN(TokenTable table, TokenTable::Build(vocabulary));
  auto state = std::make_unique<State>(State{std::move(table), {}, std::nullopt, {}, false, {}, {}});
  ASSIGN_OR_RETURN(state->config, ResolveTokenizerConfig(vocabulary, &state->table));
  const TokenTable& t = state->table;
  if (state->config.family == TokenizerFamily::kBytePairs) {
    ASSIGN_OR_RETURN(BpeEncoder bpe, BpeEncoder::Create(t, vocabulary.merges, state->config.ignore_merges));
    state->bpe.emplace(std::move(bpe));
  } else {
    // llama.cpp's byte_to_token: <0xNN>, else the byte as text.
    for (int b = 0; b < 256; ++b) {
      int32_t id = t.Find(fmt::format("<0x{:02X}>", b));
      if (id < 0) id = t.Find(std::string(1, static_cast<char>(b)));
      state->spm_byte_tokens[b] = id >= 0 ? id : state->config.unk;
    }
    state->spm_split_at_spaces = SpacesOnlyLead(t);
  }
  state->piece_offsets.reserve(static_cast<size_t>(t.size()) + 1);
  state->piece_offsets.push_back(0);
  for (int32_t id = 0; id < t.size(); ++id) {
    state->pieces += ComputePiece(t, state->config, vocabulary, id);
    state->piece_offsets.push_back(state->pieces.size());
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(state)));
}

Tokenizer::Tokenizer(std::unique_ptr<State> state) : state_(std::move(state)) {}
Tokenizer::~Tokenizer() = default;

namespace {

// Splits the special tokens out of the text as llama.cpp's
// tokenizer_st_partition does: token by token in `order`, each taking every
// occurrence in the text still left (leftmost first), l/rstrip dropping the
// whitespace around it.
std::vector<Fragment> Partition(std::string_view text, const TokenTable& table, const std::vector<int32_t>& order,
                                bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});
  // Which bytes and byte pairs occur: most special tokens can be ruled out
  // without searching.
  std::bitset<256> bytes;
  std::vector<bool> pairs(65536);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    bytes.set(c);
    if (i + 1 < text.size()) pairs[c << 8 | static_cast<uint8_t>(text[i + 1])] = true;
  }
  std::vector<Fragment> next;
  for (int32_t id : order) {
    const uint16_t attr = table.attr(id);
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string_view token = table.text(id);
    const auto first = static_cast<uint8_t>(token[0]);
    if (token.size() == 1 ? !bytes.test(first) : !pairs[first << 8 | static_cast<uint8_t>(token[1])]) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t offset = f.offset, length = f.length;
      while (length > 0) {
        const size_t match = text.substr(0, offset + length).find(token, offset);
        if (match == std::string_view::npos) {
          next.push_back({-1, offset, length});
          break;
        }
        size_t left = match - offset;
        if (attr & kAttrLstrip) {
          while (left > 0 && IsCSpace(text[offset + left - 1])) --left;
        }
        if (left > 0) next.push_back({-1, offset, left});
        next.push_back({id, 0, 0});
        const size_t end = offset + length;
        offset = match + token.size();
        if (attr & kAttrRstrip) {
          while (offset < end && IsCSpace(text[offset])) ++offset;
        }
        length = end - offset;
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  const State& s = *state_;
  const TokenizerConfig& c = s.config;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && c.add_bos) out.push_back(c.bos);
  bool after_special = true;  // SentencePiece: a space before text that starts the input or follows a token
  std::string buffer;
  for (const Fragment& f : Partition(text, s.table, c.special_tokens, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.offset, f.length);
    if (c.family == TokenizerFamily::kSentencePiece) {
      buffer.clear();
      if (c.add_space_prefix && after_special) buffer += kSpaceMark;
      for (char ch : raw) {
        if (ch == ' ') {
          buffer += kSpaceMark;
        } else {
          buffer.push_back(ch);
        }
      }
      EncodeSentencePiece(s.table, s.spm_byte_tokens, s.spm_split_at_spaces, buffer, &out);
    } else {
      const std::vector<uint32_t> cps = unicode::DecodeLenient(raw);
      s.bpe->Encode(s.table, cps, PreTokenize(c.pre, cps), &out);
    }
    after_special = false;
  }
  if (add_special && c.add_eos) out.push_back(c.eos);
  return out;
}

std::string_view Tokenizer::Piece(int32_t id, bool special) const {
  const State& s = *state_;
  if (id < 0 || id >= s.table.size()) return {};
  if (!special && (s.table.attr(id) & (kAttrUnknown | kAttrControl))) return {};
  return std::string_view(s.pieces).substr(s.piece_offsets[id], s.piece_offsets[id + 1] - s.piece_offsets[id]);
}

std::string Tokenizer::TokenPiece(int32_t id, bool special) const { return std::string(Piece(id, special)); }

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool special) const {
  const TokenizerConfig& c = state_->config;
  std::string text;
  bool strip_space = c.add_space_prefix;
  for (int32_t id : ids) {
    std::string_view piece = Piece(id, special);
    if (strip_space && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    strip_space = false;
    text.append(piece);
  }
  if (c.clean_spaces) CleanSpaces(&text);
  return text;
}

int32_t Tokenizer::size() const { return state_->table.size(); }
bool Tokenizer::is_sentencepiece() const { return state_->config.family == TokenizerFamily::kSentencePiece; }
int32_t Tokenizer::bos() const { return state_->config.bos; }
int32_t Tokenizer::eos() const { return state_->config.eos; }
int32_t Tokenizer::eot() const { return state_->config.eot; }
bool Tokenizer::adds_bos() const { return state_->config.add_bos; }
bool Tokenizer::adds_eos() const { return state_->config.add_eos; }
const std::vector<int32_t>& Tokenizer::end_of_generation() const { return state_->config.end_of_generation; }

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  const auto& eog = state_->config.end_of_generation;
  return std::binary_search(eog.begin(), eog.end(), id);
}

uint16_t Tokenizer::Attributes(int32_t id) const { return id >= 0 && id < size() ? state_->table.attr(id) : 0; }

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < size() && (state_->table.attr(id) & (kAttrControl | kAttrUnknown)) != 0;
}

}  // namespace berth::llm
