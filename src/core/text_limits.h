// Limits checked on text from outside (request bodies, config files) before
// any parser sees it: parsers that recurse on nesting (protobuf's text
// format skips unknown fields recursively, with no limit) would otherwise
// let a small file overflow the stack.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"

namespace berth::core {

// How a format nests and quotes, for CheckNesting.
struct NestingSyntax {
  std::string_view open;    // characters that open a level ("{[")
  std::string_view close;   // the characters that close one ("}]")
  std::string_view quotes;  // string delimiters; a backslash escapes the next character inside
  char comment = 0;         // starts a comment to the end of the line; 0 for none
};

inline constexpr NestingSyntax kJsonSyntax{"{[", "}]", "\"", 0};
inline constexpr NestingSyntax kProtobufTextSyntax{"{<[", "}>]", "\"'", '#'};

struct NestingCount {
  int max_depth = 0;
  size_t opened = 0;  // levels opened with the first `open` character ('{': objects, messages)
};

// One linear pass over `text`: fails with InvalidArgument ("<what> is nested
// deeper than <max_depth> levels") as soon as the depth passes `max_depth`;
// otherwise returns the deepest level and how many levels the first open
// character began. Strings and comments are skipped; malformed text is left
// for the parser.
Result<NestingCount> CheckNesting(std::string_view text, const NestingSyntax& syntax, int max_depth,
                                  std::string_view what);

}  // namespace berth::core
