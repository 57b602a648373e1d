#include "core/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "core/utf8.h"

namespace berth::core {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<LogLevel> g_level{LogLevel::kInfo};

spdlog::logger& Logger() {
  // stderr, synchronised; the line is fully formatted by berth.
  static auto logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("berth", sink);
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buffer, static_cast<int>(millis));
  return out;
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format = format; }
void SetLogLevel(LogLevel level) { g_level = level; }
bool LogEnabled(LogLevel level) { return level >= g_level.load(); }

std::string JsonEscape(std::string_view text) {
  // Invalid UTF-8 would make the JSON invalid (and can smuggle terminal
  // sequences): such bytes become '?'.
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = ValidUtf8(text);
    text = repaired;
  }
  std::string out;
  out.reserve(text.size() + 2);
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

namespace {

// A text-format value goes out bare only when it cannot be mistaken for
// anything else: no space, quote or '=', no control byte (a newline would
// forge a line, ESC a terminal sequence), no DEL, and valid UTF-8.
bool NeedsQuotes(std::string_view value) {
  if (value.empty() || !IsValidUtf8(value)) return true;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f || c == ' ' || c == '"' || c == '=') return true;
  }
  return false;
}

}  // namespace

std::string FormatLogLine(LogFormat format, std::string_view timestamp, LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields) {
  std::string line;
  if (format == LogFormat::kJson) {
    line = "{\"ts\":\"" + std::string(timestamp) + "\",\"level\":\"" + LevelName(level) + "\",\"msg\":\"" +
           JsonEscape(message) + "\"";
    for (const auto& [key, value] : fields) {
      line += ",\"" + JsonEscape(key) + "\":\"" + JsonEscape(value) + "\"";
    }
    line += "}";
    return line;
  }
  line = std::string(timestamp) + " " + LevelName(level) + " ";
  // Messages are berth's own phrases (outside data goes in fields): spaces
  // stay, anything that could break the line is escaped.
  line += JsonEscape(message);
  for (const auto& [key, value] : fields) {
    line += " ";
    line += NeedsQuotes(key) ? "\"" + JsonEscape(key) + "\"" : std::string(key);
    line += "=";
    line += NeedsQuotes(value) ? "\"" + JsonEscape(value) + "\"" : value;
  }
  return line;
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  Logger().info(FormatLogLine(g_format.load(), Timestamp(), level, message, fields));
}

}  // namespace berth::core
