// StopStrings: finds stop strings in generated text as it streams, so that
// no text from a stop string onward is ever sent. Text that could still
// become the start of a stop string is held back until it cannot.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::llm {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);

  // Adds `text`; returns what may be sent now. Once a stop string has been
  // seen, stopped() is true and nothing more is returned.
  std::string Push(std::string_view text);
  // The text held back, at the end of generation (empty once stopped).
  std::string Flush();
  bool stopped() const { return stopped_; }
  // The stop string that ended generation.
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace berth::llm
