// UTF-8 checks for text that came from outside (request bodies, config
// files), before it is quoted back in a message or handed to a parser that
// assumes well-formed text.
#pragma once

#include <string>
#include <string_view>

namespace berth::core {

// True when `text` is well-formed UTF-8.
bool IsValidUtf8(std::string_view text);

// `text` with every byte that is not part of a well-formed UTF-8 sequence
// replaced by '?', so that a message quoting request bytes stays valid JSON.
std::string ValidUtf8(std::string_view text);

}  // namespace berth::core
