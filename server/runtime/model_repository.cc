#include "server/runtime/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_config.h"
#include "server/runtime/model_loader.h"

namespace wtserve::runtime {
namespace {

namespace fs = std::filesystem;

using VersionMap = std::map<int64_t, std::shared_ptr<ServedModel>>;

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), absl::StrCat(context, status.message()));
}

// Triton's text for a model the repository does not have, which its client examples match on.
absl::Status UnknownModel(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("Request for unknown model: '", name, "' is not found"));
}

}  // namespace

ModelRepository::ModelRepository(std::string root, metrics::ServerMetrics* metrics)
    : root_(std::move(root)), metrics_(metrics) {}

ModelRepository::~ModelRepository() { ShutdownAll(absl::Now()); }

absl::StatusOr<std::vector<std::string>> ModelRepository::ListModels() const {
  std::error_code ec;
  fs::directory_iterator it(root_, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("model repository ", root_, ": cannot list it: ", ec.message()));
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!IsSafePathComponent(name)) continue;
    if (entry.is_directory(ec) && fs::exists(entry.path() / kConfigFileName, ec)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<int> ModelRepository::LoadAll() {
  absl::StatusOr<std::vector<std::string>> names = ListModels();
  if (!names.ok()) return names.status();
  int failed = 0;
  for (const std::string& name : *names) {
    if (!Load(name).ok()) ++failed;
  }
  return failed;
}

absl::Status ModelRepository::Load(const std::string& name, absl::Duration drain_timeout,
                                   std::optional<config::ModelConfig> override_config) {
  if (!IsSafePathComponent(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name \"", name, "\" must be a folder name directly inside the model repository"));
  }
  absl::MutexLock load_lock(&load_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the server is shutting down");
  }
  const std::string dir = (fs::path(root_) / name).string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model \"", name, "\" not found: no folder ", dir));
  }
  SetState(name, kStateLoading, "");
  logging::LogInfo("loading model ", name, " from ", dir);

  const absl::Time start = absl::Now();
  VersionMap loaded;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<config::ModelConfig> cfg = [&]() -> absl::StatusOr<config::ModelConfig> {
      if (!override_config.has_value()) return ReadModelConfig(dir);
      config::ModelConfig overridden = *std::move(override_config);
      if (absl::Status s = ValidateModelConfig(overridden, absl::StrCat(dir, " (load config override)"), name);
          !s.ok()) {
        return s;
      }
      return overridden;
    }();
    if (!cfg.ok()) return cfg.status();
    absl::StatusOr<std::vector<int64_t>> available = ListVersionFolders(dir);
    if (!available.ok()) return available.status();
    absl::StatusOr<std::vector<int64_t>> versions = SelectVersions(cfg->version_policy(), *available);
    if (!versions.ok()) return WithContext(versions.status(), absl::StrCat(dir, ": "));
    absl::StatusOr<std::vector<c10::Device>> devices = InstanceDevices(*cfg);
    if (!devices.ok()) {
      return WithContext(devices.status(), absl::StrCat(dir, "/", kConfigFileName, ": "));
    }
    for (int64_t version : *versions) {
      const absl::Time version_start = absl::Now();
      absl::StatusOr<LoadedVersion> version_loaded = LoadModelVersion(*cfg, dir, version, *devices);
      if (!version_loaded.ok()) return version_loaded.status();
      absl::StatusOr<std::unique_ptr<ServedModel>> served =
          ServedModel::Create(*cfg, *std::move(version_loaded), metrics_);
      if (!served.ok()) return served.status();
      if (absl::Status s = (*served)->Warmup(); !s.ok()) {
        return WithContext(s, absl::StrCat(dir, "/", version, ": "));
      }
      metrics_->Model(name, std::to_string(version))
          .load_duration->Set(absl::ToDoubleSeconds(absl::Now() - version_start));
      loaded.emplace(version, std::shared_ptr<ServedModel>(std::move(*served)));
    }
    return absl::OkStatus();
  }();

  VersionMap old;
  {
    absl::MutexLock lock(&mu_);
    Entry& entry = models_[name];
    if (status.ok() && shut_down_) {
      // ShutdownAll ran while this load was in progress: do not start serving.
      status = absl::UnavailableError("the server is shutting down");
      old.swap(loaded);
    }
    if (status.ok()) {
      old.swap(entry.versions);
      entry.versions = loaded;
      entry.state = kStateReady;
      entry.reason.clear();
    } else {
      // Old versions (if any) keep serving.
      entry.state = entry.versions.empty() ? kStateUnavailable : kStateReady;
      entry.reason = std::string(status.message());
    }
  }
  if (status.ok()) {
    for (const auto& [version, model] : old) {
      if (loaded.count(version) == 0) metrics_->Model(name, std::to_string(version)).ready->Set(0);
    }
    for (const auto& [version, model] : loaded) {
      metrics_->Model(name, std::to_string(version)).ready->Set(1);
    }
    std::vector<std::string> names;
    for (const auto& [version, model] : loaded) names.push_back(std::to_string(version));
    logging::LogInfo("model ", name, " ready: version(s) ", absl::StrJoin(names, ", "), " in ",
                     absl::FormatDuration(absl::Now() - start));
  } else {
    logging::LogError("model ", name, " failed to load: ", std::string(status.message()));
  }
  NotifyListener();
  // Outside every lock: requests already queued on the old versions finish first.
  const absl::Time drain_deadline = absl::Now() + drain_timeout;
  for (auto& [version, model] : old) model->Shutdown(drain_deadline);
  return status;
}

absl::Status ModelRepository::Unload(const std::string& name, absl::Time drain_deadline) {
  absl::MutexLock load_lock(&load_mu_);
  VersionMap old;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end() || it->second.versions.empty()) {
      return absl::NotFoundError(absl::StrCat("model \"", name, "\" is not loaded"));
    }
    old.swap(it->second.versions);
    it->second.state = kStateUnavailable;
    it->second.reason = "unloaded";
  }
  for (const auto& [version, model] : old) {
    metrics_->Model(name, std::to_string(version)).ready->Set(0);
  }
  NotifyListener();
  for (auto& [version, model] : old) model->Shutdown(drain_deadline);
  logging::LogInfo("model ", name, " unloaded");
  return absl::OkStatus();
}

absl::Status CheckRequestedModelName(const std::string& name, const std::string& field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  if (absl::StripAsciiWhitespace(name).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is only whitespace"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRepository::Find(const std::string& name,
                                                                   const std::string& version) const {
  if (absl::Status s = CheckRequestedModelName(name); !s.ok()) return s;
  int64_t wanted = 0;
  if (!version.empty() && (!absl::SimpleAtoi(version, &wanted) || wanted < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("model version \"", version,
                                                   "\" is not a version number (a positive integer, or empty "
                                                   "for the latest)"));
  }
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (Exists(name)) {
      return absl::UnavailableError(absl::StrCat("model \"", name, "\" is not loaded"));
    }
    return UnknownModel(name);
  }
  const Entry& entry = it->second;
  if (entry.versions.empty()) {
    return absl::UnavailableError(absl::StrCat("model \"", name, "\" is not ready: ", entry.state,
                                               entry.reason.empty() ? "" : absl::StrCat(" (", entry.reason, ")")));
  }
  if (wanted == 0) return entry.versions.rbegin()->second;
  auto v = entry.versions.find(wanted);
  if (v == entry.versions.end()) {
    std::vector<int64_t> loaded;
    for (const auto& [number, model] : entry.versions) loaded.push_back(number);
    return absl::NotFoundError(absl::StrCat("model \"", name, "\" has no loaded version ", wanted,
                                            " (loaded: ", absl::StrJoin(loaded, ", "), ")"));
  }
  return v->second;
}

absl::StatusOr<std::vector<std::shared_ptr<ServedModel>>> ModelRepository::Versions(const std::string& name) const {
  if (!name.empty()) {
    if (absl::Status s = CheckRequestedModelName(name); !s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<ServedModel>> result;
  if (!name.empty() && models_.count(name) == 0) {
    return UnknownModel(name);
  }
  for (const auto& [model_name, entry] : models_) {
    if (!name.empty() && model_name != name) continue;
    for (const auto& [version, model] : entry.versions) result.push_back(model);
  }
  return result;
}

bool ModelRepository::Exists(const std::string& name) const {
  if (!IsSafePathComponent(name)) return false;
  std::error_code ec;
  return fs::exists(fs::path(root_) / name / kConfigFileName, ec);
}

std::vector<ModelIndexEntry> ModelRepository::Index() const {
  std::set<std::string> names;
  if (absl::StatusOr<std::vector<std::string>> on_disk = ListModels(); on_disk.ok()) {
    names.insert(on_disk->begin(), on_disk->end());
  }
  std::vector<ModelIndexEntry> index;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, entry] : models_) names.insert(name);
  for (const std::string& name : names) {
    auto it = models_.find(name);
    if (it == models_.end()) {
      index.push_back({name, "", kStateUnavailable, "not loaded"});
      continue;
    }
    const Entry& entry = it->second;
    if (entry.versions.empty()) {
      index.push_back({name, "", entry.state, entry.reason});
      continue;
    }
    for (const auto& [version, model] : entry.versions) {
      index.push_back({name, std::to_string(version), kStateReady, ""});
    }
  }
  return index;
}

bool ModelRepository::Ready(bool strict) const {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return false;
  int ready = 0;
  for (const auto& [name, entry] : models_) {
    if (!entry.versions.empty()) {
      ++ready;
    } else if (strict) {
      return false;
    }
  }
  return ready > 0;
}

void ModelRepository::SetStateListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

void ModelRepository::ShutdownAll(absl::Time drain_deadline) {
  std::vector<std::pair<std::string, VersionMap>> all;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [name, entry] : models_) {
      all.emplace_back(name, VersionMap());
      all.back().second.swap(entry.versions);
      entry.state = kStateUnavailable;
      entry.reason = "server shutting down";
    }
  }
  NotifyListener();
  for (auto& [name, versions] : all) {
    for (auto& [version, model] : versions) {
      model->Shutdown(drain_deadline);
      metrics_->Model(name, std::to_string(version)).ready->Set(0);
    }
  }
}

void ModelRepository::SetState(const std::string& name, const std::string& state, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    Entry& entry = models_[name];
    entry.state = state;
    entry.reason = reason;
  }
  NotifyListener();
}

void ModelRepository::NotifyListener() {
  std::function<void()> listener;
  {
    absl::MutexLock lock(&mu_);
    listener = listener_;
  }
  if (listener) listener();
}

}  // namespace wtserve::runtime
