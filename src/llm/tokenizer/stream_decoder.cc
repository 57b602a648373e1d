#include "llm/tokenizer/stream_decoder.h"

namespace berth::llm {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

// The length of the well-formed sequence `first` starts (0: never valid),
// and the range its second byte must lie in (Unicode's Table 3-7).
struct Lead {
  int length;
  uint8_t low;
  uint8_t high;
};

Lead LeadOf(uint8_t first) {
  if (first < 0x80) return {1, 0, 0};
  if (first < 0xC2) return {0, 0, 0};
  if (first < 0xE0) return {2, 0x80, 0xBF};
  if (first == 0xE0) return {3, 0xA0, 0xBF};
  if (first == 0xED) return {3, 0x80, 0x9F};
  if (first < 0xF0) return {3, 0x80, 0xBF};
  if (first == 0xF0) return {4, 0x90, 0xBF};
  if (first < 0xF4) return {4, 0x80, 0xBF};
  if (first == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

size_t AppendCompleteUtf8(std::string_view bytes, std::string* out) {
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const Lead lead = LeadOf(b[i]);
    if (lead.length == 0) {
      out->append(kReplacement);
      ++i;
      continue;
    }
    // How many bytes of the sequence are valid so far.
    int valid = 1;
    while (valid < lead.length && i + valid < n) {
      const uint8_t c = b[i + valid];
      const bool ok = valid == 1 ? c >= lead.low && c <= lead.high : (c & 0xC0) == 0x80;
      if (!ok) break;
      ++valid;
    }
    if (valid == lead.length) {
      out->append(bytes.substr(i, valid));
      i += valid;
    } else if (i + valid == n) {
      break;  // may still complete
    } else {
      out->append(kReplacement);  // the maximal subpart before the offending byte
      i += valid;
    }
  }
  return i;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool special) : tokenizer_(tokenizer), special_(special) {}

std::string StreamDecoder::Push(int32_t id) { return PushBytes(tokenizer_.Piece(id, special_)); }

std::string StreamDecoder::PushBytes(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  pending_.erase(0, AppendCompleteUtf8(pending_, &out));
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  pending_.erase(0, AppendCompleteUtf8(pending_, &out));
  if (!pending_.empty()) out.append(kReplacement);
  pending_.clear();
  return out;
}

}  // namespace berth::llm
