#include "llm/model/language_model.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "core/mapped_file.h"

namespace berth::llm {

core::Result<std::shared_ptr<const LanguageModel>> LanguageModel::Open(const std::string& path,
                                                                       const ModelOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Open(path));
  return FromFile(std::move(file), options);
}

core::Result<std::shared_ptr<const LanguageModel>> LanguageModel::FromFile(std::shared_ptr<const GgufFile> file,
                                                                           const ModelOptions& options) {
  std::shared_ptr<LanguageModel> model(new LanguageModel());
  model->file_ = std::move(file);
  ASSIGN_OR_RETURN(model->vocabulary_, LoadVocabulary(*model->file_));
  ASSIGN_OR_RETURN(model->config_, ReadModelConfig(*model->file_, model->vocabulary_.size()));
  ASSIGN_OR_RETURN(model->weights_, BindModelWeights(*model->file_, model->config_));
  std::string_view bytes = model->file_->bytes();
  core::MappedFile::AdviseLargePages(bytes.data(), bytes.size());
  if (options.mlock) {
    if (mlock(bytes.data(), bytes.size()) != 0) {
      return core::ResourceExhausted("{}: cannot lock {} bytes in memory: {} (raise the memlock limit: ulimit -l)",
                                     model->file_->name(), bytes.size(), std::strerror(errno));
    }
  }
  return std::shared_ptr<const LanguageModel>(std::move(model));
}

}  // namespace berth::llm
