#include "core/text_limits.h"

namespace berth::core {

Result<NestingCount> CheckNesting(std::string_view text, const NestingSyntax& syntax, int max_depth,
                                  std::string_view what) {
  NestingCount count;
  int depth = 0;
  char in_string = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character (a \uXXXX tail is plain text)
      } else if (c == in_string) {
        in_string = 0;
      }
      continue;
    }
    if (syntax.comment && c == syntax.comment) {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (syntax.quotes.find(c) != std::string_view::npos) {
      in_string = c;
    } else if (syntax.open.find(c) != std::string_view::npos) {
      if (c == syntax.open.front()) ++count.opened;
      if (++depth > max_depth) return InvalidArgument("{} is nested deeper than {} levels", what, max_depth);
      if (depth > count.max_depth) count.max_depth = depth;
    } else if (syntax.close.find(c) != std::string_view::npos) {
      --depth;
    }
  }
  return count;
}

}  // namespace berth::core
