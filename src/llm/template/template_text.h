// Text operations of the template language on UTF-8 strings: whitespace as
// JavaScript's \s and trim() see it (what @huggingface/jinja, the reference
// chat-template renderer, strips), Python's str methods, case mapping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::llm::template_text {

// The length in bytes of the whitespace character at `pos`, or 0.
size_t WhitespaceAt(std::string_view text, size_t pos);
// `text` without leading and/or trailing whitespace.
std::string_view Trim(std::string_view text, bool leading, bool trailing);
// Python's str.strip(chars): `chars` is a set of characters.
std::string_view StripCharacters(std::string_view text, std::string_view chars, bool leading, bool trailing);

// The characters (code points) of `text`, each as its UTF-8 bytes; bytes
// that are not well-formed UTF-8 count one character each.
std::vector<std::string_view> Characters(std::string_view text);
size_t CharacterCount(std::string_view text);

// Case mapping covers ASCII, Latin-1, Greek and Cyrillic; other characters
// are kept as they are.
std::string Upper(std::string_view text);
std::string Lower(std::string_view text);
// Python's str.title() and str.capitalize().
std::string Title(std::string_view text);
std::string Capitalize(std::string_view text);

// Python's str.split(): on runs of whitespace when `separator` is null,
// at most `max_split` splits when that is not negative.
std::vector<std::string> Split(std::string_view text, const std::string* separator, int64_t max_split);
// Python's str.replace(old, new, count); a negative count replaces all.
std::string Replace(std::string_view text, std::string_view old_text, std::string_view new_text, int64_t count);

// Appends the UTF-8 bytes of a code point.
void AppendCodePoint(std::string& out, uint32_t code_point);

}  // namespace berth::llm::template_text
