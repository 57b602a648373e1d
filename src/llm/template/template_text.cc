#include "llm/template/template_text.h"

#include <algorithm>

namespace berth::llm::template_text {
namespace {

// Decodes the character at `pos`; `length` gets its byte count (1 for a
// byte that starts no well-formed sequence).
uint32_t Decode(std::string_view text, size_t pos, size_t& length) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  length = 1;
  if (lead < 0x80) return lead;
  size_t count = lead >= 0xF0 && lead < 0xF5 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
  if (count == 0 || pos + count > text.size()) return 0xFFFD;
  uint32_t code = lead & (0x7F >> count);
  for (size_t i = 1; i < count; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return 0xFFFD;
    code = (code << 6) | (byte(pos + i) & 0x3F);
  }
  bool overlong = (count == 3 && code < 0x800) || (count == 4 && (code < 0x10000 || code > 0x10FFFF));
  if (overlong || (code >= 0xD800 && code < 0xE000)) return 0xFFFD;
  length = count;
  return code;
}

bool IsWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

uint32_t MapCase(uint32_t c, bool upper) {
  if (upper) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) ||
        (c >= 0x430 && c <= 0x44F)) {
      return c - 32;
    }
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
  }
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F)) {
    return c + 32;
  }
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool IsCased(uint32_t c) { return MapCase(c, true) != c || MapCase(c, false) != c; }

// Maps each character through `map(code, index, previous_cased)`.
template <typename Map>
std::string MapCharacters(std::string_view text, Map map) {
  std::string out;
  out.reserve(text.size());
  bool previous_cased = false;
  size_t index = 0;
  for (size_t pos = 0; pos < text.size(); ++index) {
    size_t length;
    uint32_t code = Decode(text, pos, length);
    if (code == 0xFFFD && length == 1) {
      out.push_back(text[pos]);  // not UTF-8: kept as it is
    } else {
      AppendCodePoint(out, map(code, index, previous_cased));
    }
    previous_cased = IsCased(code);
    pos += length;
  }
  return out;
}

}  // namespace

void AppendCodePoint(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t WhitespaceAt(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  size_t length;
  uint32_t code = Decode(text, pos, length);
  return IsWhitespace(code) ? length : 0;
}

std::string_view Trim(std::string_view text, bool leading, bool trailing) {
  if (leading) {
    size_t pos = 0;
    while (size_t length = WhitespaceAt(text, pos)) pos += length;
    text.remove_prefix(pos);
  }
  if (trailing) {
    // Whitespace characters are at most 3 bytes long: look back that far.
    bool stripped = true;
    while (stripped && !text.empty()) {
      stripped = false;
      for (size_t length = 1; length <= 3 && length <= text.size(); ++length) {
        if (WhitespaceAt(text, text.size() - length) == length) {
          text.remove_suffix(length);
          stripped = true;
          break;
        }
      }
    }
  }
  return text;
}

std::vector<std::string_view> Characters(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t length;
    Decode(text, pos, length);
    out.push_back(text.substr(pos, length));
    pos += length;
  }
  return out;
}

size_t CharacterCount(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) {
    size_t length;
    Decode(text, pos, length);
    pos += length;
  }
  return count;
}

std::string_view StripCharacters(std::string_view text, std::string_view chars, bool leading, bool trailing) {
  std::vector<std::string_view> set = Characters(chars);
  auto in_set = [&](std::string_view c) { return std::find(set.begin(), set.end(), c) != set.end(); };
  std::vector<std::string_view> characters = Characters(text);
  size_t begin = 0, end = characters.size();
  while (leading && begin < end && in_set(characters[begin])) ++begin;
  while (trailing && end > begin && in_set(characters[end - 1])) --end;
  if (begin == end) return {};
  size_t from = characters[begin].data() - text.data();
  size_t to = characters[end - 1].data() + characters[end - 1].size() - text.data();
  return text.substr(from, to - from);
}

std::string Upper(std::string_view text) {
  return MapCharacters(text, [](uint32_t c, size_t, bool) { return MapCase(c, true); });
}

std::string Lower(std::string_view text) {
  return MapCharacters(text, [](uint32_t c, size_t, bool) { return MapCase(c, false); });
}

std::string Title(std::string_view text) {
  return MapCharacters(text, [](uint32_t c, size_t, bool previous_cased) { return MapCase(c, !previous_cased); });
}

std::string Capitalize(std::string_view text) {
  return MapCharacters(text, [](uint32_t c, size_t index, bool) { return MapCase(c, index == 0); });
}

std::vector<std::string> Split(std::string_view text, const std::string* separator, int64_t max_split) {
  std::vector<std::string> parts;
  if (separator == nullptr) {
    size_t pos = 0;
    while (true) {
      while (size_t length = WhitespaceAt(text, pos)) pos += length;
      if (pos >= text.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) >= max_split) {
        parts.emplace_back(text.substr(pos));  // the rest, trailing whitespace kept
        break;
      }
      size_t end = pos;
      while (end < text.size() && WhitespaceAt(text, end) == 0) ++end;
      parts.emplace_back(text.substr(pos, end - pos));
      pos = end;
    }
    return parts;
  }
  size_t pos = 0;
  while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
    size_t found = text.find(*separator, pos);
    if (found == std::string_view::npos) break;
    parts.emplace_back(text.substr(pos, found - pos));
    pos = found + separator->size();
  }
  parts.emplace_back(text.substr(pos));
  return parts;
}

std::string Replace(std::string_view text, std::string_view old_text, std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new_text` before every character and at the end.
    std::vector<std::string_view> characters = Characters(text);
    int64_t done = 0;
    for (std::string_view c : characters) {
      if (count < 0 || done < count) out.append(new_text), ++done;
      out.append(c);
    }
    if (count < 0 || done < count) out.append(new_text);
    return out;
  }
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t found = text.find(old_text, pos);
    if (found == std::string_view::npos) break;
    out.append(text.substr(pos, found - pos));
    out.append(new_text);
    pos = found + old_text.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace berth::llm::template_text
