// Process-wide structured logging: a message plus key=value fields, written
// as text or as one JSON object per line (for log shippers). Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace berth::core {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

void SetLogFormat(LogFormat format);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

using LogField = std::pair<std::string_view, std::string>;
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, message, fields);
}
inline void LogWarning(std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, message, fields);
}
inline void LogError(std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, message, fields);
}

// Escapes a string for inclusion inside a JSON string literal: quotes,
// backslashes, control bytes and DEL as escapes, invalid UTF-8 as '?'.
std::string JsonEscape(std::string_view text);

// The line Log writes for these arguments. Text: "<ts> <level> <message>
// key=value ...", a value (or key) quoted and escaped as in JSON whenever it
// is empty or holds a space, '"', '=', a control byte, DEL or invalid UTF-8,
// so that no value from outside can forge a line or a field (the message, a
// phrase of berth's, is escaped but not quoted). JSON: one object per line,
// everything escaped.
std::string FormatLogLine(LogFormat format, std::string_view timestamp, LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields);

}  // namespace berth::core
