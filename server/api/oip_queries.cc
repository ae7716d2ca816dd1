#include "server/api/oip_queries.h"

#include <memory>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/api/triton_config.h"
#include "server/runtime/model_config.h"

#ifndef WTSERVE_VERSION
#define WTSERVE_VERSION "0.0.0"
#endif

namespace wtserve::api {
namespace {

void FillStat(const runtime::DurationStat& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

}  // namespace

void FillServerMetadata(inference::ServerMetadataResponse* response) {
  response->set_name("wtserve");
  response->set_version(WTSERVE_VERSION);
  for (const char* extension : {"classification", "model_configuration", "model_repository", "schedule_policy",
                                "statistics", "binary_tensor_data"}) {
    response->add_extensions(extension);
  }
}

absl::StatusOr<bool> ModelIsReady(runtime::ModelRepository& repository, const ServerState& state,
                                  const std::string& name, const std::string& version) {
  absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model = repository.Find(name, version);
  if (model.ok()) return !state.shutting_down();
  if (model.status().code() == absl::StatusCode::kUnavailable) return false;
  return model.status();
}

absl::Status FillModelMetadata(runtime::ModelRepository& repository, const std::string& name,
                               const std::string& version, inference::ModelMetadataResponse* response) {
  absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model = repository.Find(name, version);
  if (!model.ok()) return model.status();
  const config::ModelConfig& cfg = (*model)->config();
  response->set_name(cfg.name());
  if (version.empty()) {
    absl::StatusOr<std::vector<std::shared_ptr<runtime::ServedModel>>> versions = repository.Versions(cfg.name());
    if (versions.ok()) {
      for (const auto& v : *versions) response->add_versions(v->version_string());
    }
  } else {
    response->add_versions((*model)->version_string());
  }
  response->set_platform(cfg.platform());
  auto* input = response->add_inputs();
  input->set_name(cfg.input(0).name());
  input->set_datatype(std::string(runtime::WireDataType(cfg.input(0).data_type())));
  input->add_shape(-1);
  if (cfg.input(0).data_type() != config::TYPE_STRING) {
    for (int64_t d : cfg.input(0).dims()) input->add_shape(d);
  }
  auto* output = response->add_outputs();
  output->set_name(cfg.output(0).name());
  output->set_datatype("FP32");
  output->add_shape(-1);
  output->add_shape(cfg.output(0).dims(0));
  return absl::OkStatus();
}

absl::Status FillModelConfig(runtime::ModelRepository& repository, const std::string& name, const std::string& version,
                             inference::ModelConfigResponse* response) {
  absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model = repository.Find(name, version);
  if (!model.ok()) return model.status();
  *response->mutable_config() = ToTritonModelConfig((*model)->config());
  return absl::OkStatus();
}

absl::Status FillModelStatistics(runtime::ModelRepository& repository, const std::string& name,
                                 const std::string& version, inference::ModelStatisticsResponse* response) {
  std::vector<std::shared_ptr<runtime::ServedModel>> models;
  if (!version.empty()) {
    if (name.empty()) return absl::InvalidArgumentError("a version needs a model name");
    absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model = repository.Find(name, version);
    if (!model.ok()) return model.status();
    models.push_back(*model);
  } else {
    absl::StatusOr<std::vector<std::shared_ptr<runtime::ServedModel>>> versions = repository.Versions(name);
    if (!versions.ok()) return versions.status();
    models = *std::move(versions);
  }
  for (const auto& model : models) {
    const runtime::ModelStatsSnapshot s = model->Stats();
    auto* stats = response->add_model_stats();
    stats->set_name(model->config().name());
    stats->set_version(model->version_string());
    stats->set_last_inference(s.last_inference_ms);
    stats->set_inference_count(s.inference_count);
    stats->set_execution_count(s.execution_count);
    auto* infer = stats->mutable_inference_stats();
    FillStat(s.success, infer->mutable_success());
    FillStat(s.fail, infer->mutable_fail());
    FillStat(s.queue, infer->mutable_queue());
    FillStat(s.compute_infer, infer->mutable_compute_infer());
    for (const auto& [batch_size, stat] : s.batch_compute) {
      auto* batch = stats->add_batch_stats();
      batch->set_batch_size(static_cast<uint64_t>(batch_size));
      FillStat(stat, batch->mutable_compute_infer());
    }
  }
  return absl::OkStatus();
}

absl::Status FillRepositoryIndex(runtime::ModelRepository& repository, const std::string& repository_name,
                                 bool ready_only, inference::RepositoryIndexResponse* response) {
  if (!repository_name.empty()) {
    return absl::NotFoundError(
        absl::StrCat("unknown repository \"", repository_name, "\"; wtserve serves one repository, named \"\""));
  }
  for (const runtime::ModelIndexEntry& entry : repository.Index()) {
    if (ready_only && entry.state != runtime::kStateReady) continue;
    auto* model = response->add_models();
    model->set_name(entry.name);
    model->set_version(entry.version);
    model->set_state(entry.state);
    model->set_reason(entry.reason);
  }
  return absl::OkStatus();
}

absl::Status CheckRepositoryName(const std::string& repository_name) {
  if (!repository_name.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown repository \"", repository_name, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<config::ModelConfig>> LoadConfigOverride(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  std::optional<config::ModelConfig> override_config;
  for (const auto& [key, value] : parameters) {
    if (absl::StartsWith(key, "file:")) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key,
                                                     "': file overrides are not supported; put the files in the model "
                                                     "folder and load again"));
    }
    if (key != "config") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown load parameter '", key, "'; wtserve takes 'config' (the model config as JSON)"));
    }
    if (value.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
      return absl::InvalidArgumentError("load parameter 'config' must be a string (the model config as JSON)");
    }
    config::ModelConfig cfg;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // a misspelt field would otherwise vanish silently
    if (auto s = google::protobuf::util::JsonStringToMessage(value.string_param(), &cfg, options); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("load parameter 'config' is not a model config in JSON (proto/model_config.proto, "
                       "docs/server.md): ",
                       s.ToString()));
    }
    override_config = std::move(cfg);
  }
  return override_config;
}

}  // namespace wtserve::api
