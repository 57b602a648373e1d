// LanguageModel: a GGUF language model opened for inference — the mapped
// file, its configuration, its vocabulary and its weights bound to their
// roles. Immutable once opened and shared (shared_ptr) by every
// ModelContext that runs it; thread-safe to read.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "llm/gguf/gguf_file.h"
#include "llm/model/model_config.h"
#include "llm/model/model_weights.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {

struct ModelOptions {
  // Locks the weights in memory (mlock) so that they are never paged out;
  // fails with the OS's reason when RLIMIT_MEMLOCK is too low.
  bool mlock = false;
};

class LanguageModel {
 public:
  static core::Result<std::shared_ptr<const LanguageModel>> Open(const std::string& path,
                                                                 const ModelOptions& options = {});
  // The same checks on a file already open (tests).
  static core::Result<std::shared_ptr<const LanguageModel>> FromFile(std::shared_ptr<const GgufFile> file,
                                                                     const ModelOptions& options = {});

  const GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Vocabulary& vocabulary() const { return vocabulary_; }

 private:
  LanguageModel() = default;
  std::shared_ptr<const GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
  Vocabulary vocabulary_;
};

}  // namespace berth::llm
