#include "server/backend.h"

#include <algorithm>

namespace berth::server {

void BackendRegistry::Register(BackendFactory factory) { factories_.push_back(std::move(factory)); }

const BackendFactory* BackendRegistry::FindByName(std::string_view name) const {
  for (const BackendFactory& factory : factories_) {
    if (std::find(factory.names.begin(), factory.names.end(), name) != factory.names.end()) return &factory;
  }
  return nullptr;
}

namespace {

std::string KnownNames(const std::vector<BackendFactory>& factories, bool platforms) {
  std::string known;
  for (const BackendFactory& factory : factories) {
    known += (known.empty() ? "\"" : ", \"") + (platforms ? factory.platform : factory.backend) + "\" (" +
             factory.name + ")";
  }
  return known;
}

}  // namespace

core::Status BackendRegistry::CheckNames(const config::ModelConfig& config, std::string_view model_name) const {
  const BackendFactory* by_platform = nullptr;
  if (!config.platform().empty()) {
    by_platform = FindByName(config.platform());
    if (!by_platform) {
      return core::Unimplemented("model '{}': platform '{}' is not supported (berth serves: {})", model_name,
                                 config.platform(), KnownNames(factories_, true));
    }
  }
  if (!config.backend().empty()) {
    const BackendFactory* by_backend = FindByName(config.backend());
    if (!by_backend) {
      return core::Unimplemented("model '{}': backend '{}' is not supported (berth has: {})", model_name,
                                 config.backend(), KnownNames(factories_, false));
    }
    if (by_platform && by_platform != by_backend) {
      return core::InvalidArgument("model '{}': platform '{}' and backend '{}' name different backends", model_name,
                                   config.platform(), config.backend());
    }
  }
  return core::Status::Ok();
}

core::Result<const BackendFactory*> BackendRegistry::Select(const config::ModelConfig& config,
                                                            const std::filesystem::path& version_dir) const {
  if (factories_.empty()) return core::Internal("no model backend is registered");
  RETURN_IF_ERROR(CheckNames(config, config.name()));
  if (!config.backend().empty()) return FindByName(config.backend());
  if (!config.platform().empty()) return FindByName(config.platform());
  std::error_code ec;
  if (!config.default_model_filename().empty()) {
    auto by_extension = ForModelFile(config.default_model_filename());
    if (by_extension.ok()) return by_extension;
  }
  for (const BackendFactory& factory : factories_) {
    if (std::filesystem::is_regular_file(version_dir / factory.default_model_filename, ec)) return &factory;
  }
  return &factories_.front();  // whose missing file the load then reports
}

core::Result<const BackendFactory*> BackendRegistry::ForModelFile(const std::filesystem::path& file) const {
  const std::string extension = file.extension().string();
  std::string known;
  for (const BackendFactory& factory : factories_) {
    const std::string own = std::filesystem::path(factory.default_model_filename).extension().string();
    if (!extension.empty() && extension == own) return &factory;
    known += (known.empty() ? "" : ", ") + own;
  }
  return core::InvalidArgument("model file '{}': berth serves {} files", file.string(), known);
}

}  // namespace berth::server
