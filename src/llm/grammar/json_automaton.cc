#include "llm/grammar/json_automaton.h"

#include <algorithm>

namespace berth::llm {
namespace {

// Frame states.
enum : uint8_t { kDocumentStart, kDocumentEnd };
enum : uint8_t { kObjectOpen, kObjectKey, kObjectColon, kObjectValue, kObjectAfterValue, kObjectComma };
enum : uint8_t { kArrayOpen, kArrayAfterValue, kArrayComma };
enum : uint8_t { kStringBody, kStringEscape, kStringHex };
enum : uint8_t {
  kNumberStart,
  kNumberMinus,
  kNumberZero,
  kNumberInteger,
  kNumberDot,
  kNumberFraction,
  kNumberExponent,
  kNumberExponentSign,
  kNumberExponentDigits
};

constexpr uint8_t kNewlineSeen = 0x80;

bool IsDigit(uint8_t byte) { return byte >= '0' && byte <= '9'; }
bool IsHex(uint8_t byte) { return IsDigit(byte) || (byte >= 'a' && byte <= 'f') || (byte >= 'A' && byte <= 'F'); }

GrammarFrame MakeFrame(FrameKind kind, int32_t node, uint8_t state = 0) {
  GrammarFrame frame;
  frame.kind = kind;
  frame.node = node;
  frame.state = state;
  return frame;
}

// Sets frame.lo/hi/pending for the bytes that continue a UTF-8 lead byte;
// false for bytes that cannot start a character.
bool StartCharacter(GrammarFrame& frame, uint8_t byte) {
  frame.lo = 0x80;
  frame.hi = 0xBF;
  if (byte < 0x80) {
    frame.pending = 0;
  } else if (byte >= 0xC2 && byte <= 0xDF) {
    frame.pending = 1;
  } else if (byte >= 0xE0 && byte <= 0xEF) {
    frame.pending = 2;
    if (byte == 0xE0) frame.lo = 0xA0;
    if (byte == 0xED) frame.hi = 0x9F;  // no surrogates
  } else if (byte >= 0xF0 && byte <= 0xF4) {
    frame.pending = 3;
    if (byte == 0xF0) frame.lo = 0x90;
    if (byte == 0xF4) frame.hi = 0x8F;
  } else {
    return false;
  }
  return true;
}

}  // namespace

GrammarState JsonAutomaton::Start() const {
  GrammarState state;
  state.reserve(static_cast<size_t>(grammar_.options().max_value_depth) + 4);
  state.push_back(MakeFrame(FrameKind::kDocument, grammar_.root(), kDocumentStart));
  return state;
}

bool JsonAutomaton::Whitespace(GrammarFrame& frame, uint8_t byte) const {
  if (byte != ' ' && byte != '\t' && byte != '\n') return false;
  const int used = frame.whitespace & 0x7F;
  if (used >= grammar_.options().max_whitespace) return false;
  if (byte == '\n') {
    if (frame.whitespace & kNewlineSeen) return false;
    frame.whitespace |= kNewlineSeen;
  }
  frame.whitespace = static_cast<uint8_t>((frame.whitespace & kNewlineSeen) | (used + 1));
  return true;
}

bool JsonAutomaton::Step(GrammarState& state, uint8_t byte) const {
  while (!state.empty()) {
    Result result = Result::kReject;
    switch (state.back().kind) {
      case FrameKind::kDocument:
        result = StepDocument(state, byte);
        break;
      case FrameKind::kObject:
      case FrameKind::kFreeObject:
        result = StepObject(state, byte);
        break;
      case FrameKind::kArray:
        result = StepArray(state, byte);
        break;
      case FrameKind::kString:
        result = StepString(state, byte);
        break;
      case FrameKind::kNumber:
        result = StepNumber(state, byte);
        break;
      case FrameKind::kLiterals:
      case FrameKind::kKey:
        result = StepLiterals(state, byte);
        break;
    }
    if (result != Result::kEnded) return result == Result::kConsumed;
    state.pop_back();
  }
  return false;
}

bool JsonAutomaton::StepAll(GrammarState& state, std::string_view bytes) const {
  for (char c : bytes) {
    if (!Step(state, static_cast<uint8_t>(c))) return false;
  }
  return true;
}

bool JsonAutomaton::StartValue(GrammarState& state, int32_t node, uint8_t byte) const {
  const int32_t resolved = grammar_.NodeForFirstByte(node, byte);
  if (resolved < 0) return false;
  if (state.size() > static_cast<size_t>(grammar_.options().max_value_depth)) return false;
  const GrammarNode& n = grammar_.node(resolved);
  switch (n.kind) {
    case GrammarNodeKind::kObject:
      state.push_back(MakeFrame(FrameKind::kObject, resolved, kObjectOpen));
      return true;
    case GrammarNodeKind::kFreeObject:
      state.push_back(MakeFrame(FrameKind::kFreeObject, resolved, kObjectOpen));
      return true;
    case GrammarNodeKind::kArray:
      state.push_back(MakeFrame(FrameKind::kArray, resolved, kArrayOpen));
      return true;
    case GrammarNodeKind::kString:
      state.push_back(MakeFrame(FrameKind::kString, resolved, kStringBody));
      return true;
    case GrammarNodeKind::kNumber:
    case GrammarNodeKind::kInteger:
      state.push_back(MakeFrame(FrameKind::kNumber, resolved, kNumberStart));
      return StepNumber(state, byte) == Result::kConsumed;
    case GrammarNodeKind::kLiterals: {
      GrammarFrame frame = MakeFrame(FrameKind::kLiterals, n.first);
      frame.hi = static_cast<int32_t>(grammar_.literals(n.first).texts.size());
      state.push_back(frame);
      return StepLiterals(state, byte) == Result::kConsumed;
    }
    case GrammarNodeKind::kAlternatives:
      break;
  }
  return false;
}

JsonAutomaton::Result JsonAutomaton::StepDocument(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  if (frame.state != kDocumentStart) return Result::kReject;
  if (Whitespace(frame, byte)) return Result::kConsumed;
  frame.state = kDocumentEnd;
  return StartValue(state, frame.node, byte) ? Result::kConsumed : Result::kReject;
}

bool JsonAutomaton::ObjectCanClose(const GrammarFrame& frame) const {
  if (frame.kind == FrameKind::kFreeObject) return true;
  return PropertySuffix(frame.node, frame.count) == 0;
}

bool JsonAutomaton::ObjectHasMore(const GrammarFrame& frame) const {
  const GrammarNode& node = grammar_.node(frame.node);
  if (frame.kind == FrameKind::kFreeObject) return node.max_count < 0 || frame.count < node.max_count;
  return frame.count < node.count;
}

int32_t JsonAutomaton::PropertySuffix(int32_t object, int32_t index) const {
  const GrammarNode& node = grammar_.node(object);
  return index < node.count ? grammar_.property(node.first + index).suffix_bytes : 0;
}

JsonAutomaton::Result JsonAutomaton::StepObject(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  const bool free = frame.kind == FrameKind::kFreeObject;
  const GrammarNode& node = grammar_.node(frame.node);
  switch (frame.state) {
    case kObjectOpen:
    case kObjectComma:
      if (Whitespace(frame, byte)) return Result::kConsumed;
      if (byte == '}' && frame.state == kObjectOpen && ObjectCanClose(frame)) {
        state.pop_back();
        return Result::kConsumed;
      }
      if (byte != '"' || !ObjectHasMore(frame)) return Result::kReject;
      frame.whitespace = 0;
      if (free) {
        frame.state = kObjectColon;
        state.push_back(MakeFrame(FrameKind::kString, -1, kStringBody));
        return Result::kConsumed;
      }
      frame.state = kObjectKey;
      {
        const int32_t set = grammar_.property(node.first + frame.count).key_set;
        GrammarFrame key = MakeFrame(FrameKind::kKey, set);
        key.hi = static_cast<int32_t>(grammar_.literals(set).texts.size());
        state.push_back(key);
      }
      return StepLiterals(state, byte);
    case kObjectColon:
      if (Whitespace(frame, byte)) return Result::kConsumed;
      if (byte != ':') return Result::kReject;
      frame.state = kObjectValue;
      frame.whitespace = 0;
      return Result::kConsumed;
    case kObjectValue: {
      if (Whitespace(frame, byte)) return Result::kConsumed;
      const int32_t value = free ? node.item : grammar_.property(node.first + frame.count).node;
      frame.state = kObjectAfterValue;
      frame.whitespace = 0;
      ++frame.count;
      return StartValue(state, value, byte) ? Result::kConsumed : Result::kReject;
    }
    case kObjectAfterValue:
      if (Whitespace(frame, byte)) return Result::kConsumed;
      if (byte == ',' && ObjectHasMore(frame)) {
        frame.state = kObjectComma;
        frame.whitespace = 0;
        return Result::kConsumed;
      }
      if (byte == '}' && ObjectCanClose(frame)) {
        state.pop_back();
        return Result::kConsumed;
      }
      return Result::kReject;
    default:
      return Result::kReject;
  }
}

JsonAutomaton::Result JsonAutomaton::StepArray(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  const GrammarNode& node = grammar_.node(frame.node);
  if (Whitespace(frame, byte)) return Result::kConsumed;
  if (frame.state == kArrayAfterValue) {
    if (byte == ',' && (node.max_count < 0 || frame.count < node.max_count)) {
      frame.state = kArrayComma;
      frame.whitespace = 0;
      return Result::kConsumed;
    }
    if (byte == ']' && frame.count >= node.min_count) {
      state.pop_back();
      return Result::kConsumed;
    }
    return Result::kReject;
  }
  if (byte == ']' && frame.state == kArrayOpen && node.min_count == 0) {
    state.pop_back();
    return Result::kConsumed;
  }
  if (frame.state == kArrayOpen && node.max_count == 0) return Result::kReject;
  frame.state = kArrayAfterValue;
  frame.whitespace = 0;
  ++frame.count;
  return StartValue(state, node.item, byte) ? Result::kConsumed : Result::kReject;
}

JsonAutomaton::Result JsonAutomaton::StepString(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  int32_t min_length = 0;
  int32_t max_length = grammar_.options().max_string_length > 0 ? grammar_.options().max_string_length : -1;
  if (frame.node >= 0) {
    min_length = grammar_.node(frame.node).min_count;
    max_length = grammar_.node(frame.node).max_count;
  }
  switch (frame.state) {
    case kStringBody:
      if (frame.pending > 0) {
        if (byte < frame.lo || byte > frame.hi) return Result::kReject;
        --frame.pending;
        frame.lo = 0x80;
        frame.hi = 0xBF;
        return Result::kConsumed;
      }
      if (byte == '"') {
        if (frame.count < min_length) return Result::kReject;
        state.pop_back();
        return Result::kConsumed;
      }
      if (byte < 0x20 || (max_length >= 0 && frame.count >= max_length)) return Result::kReject;
      if (byte == '\\') {
        frame.state = kStringEscape;
      } else if (!StartCharacter(frame, byte)) {
        return Result::kReject;
      }
      ++frame.count;
      return Result::kConsumed;
    case kStringEscape:
      if (byte == 'u') {
        frame.state = kStringHex;
        frame.pending = 4;
        frame.digits = 0;
        return Result::kConsumed;
      }
      if (std::string_view("\"\\/bfnrt").find(static_cast<char>(byte)) == std::string_view::npos) {
        return Result::kReject;
      }
      frame.state = kStringBody;
      return Result::kConsumed;
    case kStringHex:
      if (!IsHex(byte)) return Result::kReject;
      if (frame.pending == 4) frame.digits = (byte == 'd' || byte == 'D') ? 1 : 0;
      if (frame.pending == 3 && frame.digits == 1 && !(byte >= '0' && byte <= '7'))
        return Result::kReject;  // \uD800-\uDFFF
      if (--frame.pending == 0) frame.state = kStringBody;
      return Result::kConsumed;
    default:
      return Result::kReject;
  }
}

JsonAutomaton::Result JsonAutomaton::StepNumber(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  const GrammarOptions& options = grammar_.options();
  const bool integer = grammar_.node(frame.node).kind == GrammarNodeKind::kInteger;
  auto next = [&](uint8_t to, bool digit) {
    frame.digits = frame.state == to ? static_cast<uint8_t>(frame.digits + (digit ? 1 : 0)) : (digit ? 1 : 0);
    frame.state = to;
    return Result::kConsumed;
  };
  const bool endable = frame.state == kNumberZero || frame.state == kNumberInteger || frame.state == kNumberFraction ||
                       frame.state == kNumberExponentDigits;
  switch (frame.state) {
    case kNumberStart:
      if (byte == '-') return next(kNumberMinus, false);
      [[fallthrough]];
    case kNumberMinus:
      if (byte == '0') return next(kNumberZero, true);
      if (IsDigit(byte)) return next(kNumberInteger, true);
      return Result::kReject;
    case kNumberInteger:
      if (IsDigit(byte))
        return frame.digits < options.max_integer_digits ? next(kNumberInteger, true) : Result::kReject;
      [[fallthrough]];
    case kNumberZero:
      if (byte == '.' && !integer && options.max_fraction_digits > 0) return next(kNumberDot, false);
      if ((byte == 'e' || byte == 'E') && !integer && options.max_exponent_digits > 0)
        return next(kNumberExponent, false);
      break;
    case kNumberDot:
      return IsDigit(byte) ? next(kNumberFraction, true) : Result::kReject;
    case kNumberFraction:
      if (IsDigit(byte))
        return frame.digits < options.max_fraction_digits ? next(kNumberFraction, true) : Result::kReject;
      if ((byte == 'e' || byte == 'E') && options.max_exponent_digits > 0) return next(kNumberExponent, false);
      break;
    case kNumberExponent:
      if (byte == '-' || byte == '+') return next(kNumberExponentSign, false);
      [[fallthrough]];
    case kNumberExponentSign:
      return IsDigit(byte) ? next(kNumberExponentDigits, true) : Result::kReject;
    case kNumberExponentDigits:
      if (IsDigit(byte)) {
        return frame.digits < options.max_exponent_digits ? next(kNumberExponentDigits, true) : Result::kReject;
      }
      break;
    default:
      return Result::kReject;
  }
  return endable && !IsDigit(byte) ? Result::kEnded : Result::kReject;
}

JsonAutomaton::Result JsonAutomaton::StepLiterals(GrammarState& state, uint8_t byte) const {
  GrammarFrame& frame = state.back();
  const LiteralSet& set = grammar_.literals(frame.node);
  const auto pos = static_cast<size_t>(frame.count);
  auto begin = set.texts.begin() + frame.lo;
  auto end = set.texts.begin() + frame.hi;
  const bool endable = frame.lo < frame.hi && begin->size() == pos;
  // The texts in range share their first `pos` bytes and are sorted: those
  // with `byte` next are one run.
  auto below = [&](const std::string& text, uint8_t b) {
    return text.size() <= pos || static_cast<uint8_t>(text[pos]) < b;
  };
  auto above = [&](uint8_t b, const std::string& text) {
    return text.size() > pos && b < static_cast<uint8_t>(text[pos]);
  };
  auto first = std::lower_bound(begin, end, byte, below);
  auto last = std::upper_bound(first, end, byte, above);
  if (first == last) return endable ? Result::kEnded : Result::kReject;
  frame.lo = static_cast<int32_t>(first - set.texts.begin());
  frame.hi = static_cast<int32_t>(last - set.texts.begin());
  frame.count = static_cast<int32_t>(pos + 1);
  if (frame.hi - frame.lo == 1 && first->size() == pos + 1) {
    // Complete, and nothing longer is possible.
    if (frame.kind == FrameKind::kKey) {
      GrammarFrame& object = state[state.size() - 2];
      object.count = set.payload[static_cast<size_t>(frame.lo)];
      object.state = kObjectColon;
    }
    state.pop_back();
  }
  return Result::kConsumed;
}

bool JsonAutomaton::IsComplete(const GrammarState& state) const {
  for (size_t i = state.size(); i-- > 1;) {
    const GrammarFrame& frame = state[i];
    if (frame.kind == FrameKind::kNumber) {
      if (frame.state != kNumberZero && frame.state != kNumberInteger && frame.state != kNumberFraction &&
          frame.state != kNumberExponentDigits) {
        return false;
      }
    } else if (frame.kind == FrameKind::kLiterals) {
      if (frame.lo >= frame.hi || grammar_.literals(frame.node).texts[static_cast<size_t>(frame.lo)].size() !=
                                      static_cast<size_t>(frame.count)) {
        return false;
      }
    } else {
      return false;
    }
  }
  return !state.empty() && state[0].state == kDocumentEnd;
}

bool JsonAutomaton::InPlainString(const GrammarState& state, int32_t* room) const {
  if (state.empty()) return false;
  const GrammarFrame& frame = state.back();
  if (frame.kind != FrameKind::kString || frame.state != kStringBody || frame.pending != 0) return false;
  int32_t max_length = grammar_.options().max_string_length > 0 ? grammar_.options().max_string_length : -1;
  if (frame.node >= 0) max_length = grammar_.node(frame.node).max_count;
  *room = max_length < 0 ? -1 : std::max(0, max_length - frame.count);
  return true;
}

int64_t JsonAutomaton::MinBytesToComplete(const GrammarState& state) const {
  int64_t total = 0;
  for (size_t i = 0; i < state.size(); ++i) total += FrameMinBytes(state, i);
  return total;
}

int64_t JsonAutomaton::KeyMinBytes(const GrammarState& state, size_t index) const {
  // A declared key being read: its rest, the value and what the object still needs after it.
  const GrammarFrame& key = state[index];
  const GrammarFrame& object = state[index - 1];
  const LiteralSet& set = grammar_.literals(key.node);
  const GrammarNode& node = grammar_.node(object.node);
  int64_t best = INT64_MAX;
  for (int32_t i = key.lo; i < key.hi; ++i) {
    const int32_t p = set.payload[static_cast<size_t>(i)];
    const int64_t cost = static_cast<int64_t>(set.texts[static_cast<size_t>(i)].size()) - key.count + 1 +
                         grammar_.node(grammar_.property(node.first + p).node).min_bytes +
                         PropertySuffix(object.node, p + 1) + 1;
    best = std::min(best, cost);
  }
  return best;
}

int64_t JsonAutomaton::FrameMinBytes(const GrammarState& state, size_t index) const {
  const GrammarFrame& frame = state[index];
  const GrammarNode* node = frame.node >= 0 ? &grammar_.node(frame.node) : nullptr;
  switch (frame.kind) {
    case FrameKind::kDocument:
      return frame.state == kDocumentStart ? grammar_.node(frame.node).min_bytes : 0;
    case FrameKind::kFreeObject: {
      const int64_t value = grammar_.node(node->item).min_bytes;
      if (frame.state == kObjectComma) return 2 + 1 + value + 1;
      if (frame.state == kObjectColon) return 1 + value + 1;
      if (frame.state == kObjectValue) return value + 1;
      return 1;
    }
    case FrameKind::kObject: {
      if (frame.state == kObjectKey) return 0;  // the key's frame counts it all
      if (frame.state == kObjectOpen) {
        const int32_t suffix = PropertySuffix(frame.node, 0);
        return suffix > 0 ? suffix : 1;
      }
      if (frame.state == kObjectAfterValue) return PropertySuffix(frame.node, frame.count) + 1;
      if (frame.state == kObjectComma) {
        int64_t best = INT64_MAX;
        const LiteralSet& set = grammar_.literals(grammar_.property(node->first + frame.count).key_set);
        for (size_t i = 0; i < set.texts.size(); ++i) {
          const int32_t p = set.payload[i];
          best = std::min<int64_t>(best, static_cast<int64_t>(set.texts[i].size()) + 1 +
                                             grammar_.node(grammar_.property(node->first + p).node).min_bytes +
                                             PropertySuffix(frame.node, p + 1) + 1);
        }
        return best;
      }
      const int64_t value = grammar_.node(grammar_.property(node->first + frame.count).node).min_bytes;
      return (frame.state == kObjectColon ? 1 : 0) + value + PropertySuffix(frame.node, frame.count + 1) + 1;
    }
    case FrameKind::kArray: {
      const int64_t item = grammar_.node(node->item).min_bytes;
      const int64_t missing = std::max(0, node->min_count - frame.count);
      if (frame.state == kArrayOpen) return missing == 0 ? 1 : missing * (item + 1);
      if (frame.state == kArrayAfterValue) return missing * (item + 1) + 1;
      const int64_t due = std::max<int64_t>(missing, 1);
      return due * (item + 1);
    }
    case FrameKind::kString: {
      const int32_t min_length = node != nullptr ? node->min_count : 0;
      const int64_t missing = std::max(0, min_length - frame.count);
      if (frame.state == kStringEscape) return 1 + missing + 1;
      return frame.pending + missing + 1;
    }
    case FrameKind::kNumber:
      return (frame.state == kNumberStart || frame.state == kNumberMinus || frame.state == kNumberDot ||
              frame.state == kNumberExponent || frame.state == kNumberExponentSign)
                 ? 1
                 : 0;
    case FrameKind::kLiterals: {
      int64_t best = INT64_MAX;
      const LiteralSet& set = grammar_.literals(frame.node);
      for (int32_t i = frame.lo; i < frame.hi; ++i)
        best = std::min<int64_t>(best, static_cast<int64_t>(set.texts[static_cast<size_t>(i)].size()) - frame.count);
      return best;
    }
    case FrameKind::kKey:
      return KeyMinBytes(state, index);
  }
  return 0;
}

}  // namespace berth::llm
