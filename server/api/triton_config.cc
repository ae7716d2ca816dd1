#include "server/api/triton_config.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include <google/protobuf/text_format.h>

namespace wtserve::api {
namespace {

inference::DataType ToTritonDataType(config::DataType type) {
  switch (type) {
    case config::TYPE_UINT8: return inference::TYPE_UINT8;
    case config::TYPE_FP16: return inference::TYPE_FP16;
    case config::TYPE_FP32: return inference::TYPE_FP32;
    case config::TYPE_STRING: return inference::TYPE_STRING;
    case config::TYPE_BF16: return inference::TYPE_BF16;
    default: return inference::TYPE_INVALID;
  }
}

inference::ModelInstanceGroup::Kind ToTritonKind(config::ModelInstanceGroup::Kind kind) {
  switch (kind) {
    case config::ModelInstanceGroup::KIND_GPU: return inference::ModelInstanceGroup::KIND_GPU;
    case config::ModelInstanceGroup::KIND_CPU: return inference::ModelInstanceGroup::KIND_CPU;
    default: return inference::ModelInstanceGroup::KIND_AUTO;
  }
}

std::string SingleLineText(const google::protobuf::Message& message) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string text;
  printer.PrintToString(message, &text);
  // Single-line mode leaves a trailing space after the last field.
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

inference::ModelConfig ToTritonModelConfig(const config::ModelConfig& config) {
  inference::ModelConfig triton;
  triton.set_name(config.name());
  triton.set_platform(config.platform());
  triton.set_backend("wtserve");
  triton.set_default_model_filename(config.default_model_filename());
  triton.set_max_batch_size(config.max_batch_size());

  const config::ModelVersionPolicy& policy = config.version_policy();
  if (policy.has_latest()) {
    triton.mutable_version_policy()->mutable_latest()->set_num_versions(policy.latest().num_versions());
  } else if (policy.has_all()) {
    triton.mutable_version_policy()->mutable_all();
  } else if (policy.has_specific()) {
    for (int64_t v : policy.specific().versions()) {
      triton.mutable_version_policy()->mutable_specific()->add_versions(v);
    }
  }

  for (const config::ModelInput& input : config.input()) {
    inference::ModelInput* out = triton.add_input();
    out->set_name(input.name());
    out->set_data_type(ToTritonDataType(input.data_type()));
    if (input.data_type() == config::TYPE_STRING) {
      out->add_dims(1);
    } else {
      out->set_format(inference::ModelInput::FORMAT_NCHW);
      for (int64_t d : input.dims()) out->add_dims(d);
    }
  }
  for (const config::ModelOutput& output : config.output()) {
    inference::ModelOutput* out = triton.add_output();
    out->set_name(output.name());
    out->set_data_type(ToTritonDataType(output.data_type()));
    for (int64_t d : output.dims()) out->add_dims(d);
    out->set_label_filename(output.label_filename());
  }

  for (const config::ModelInstanceGroup& group : config.instance_group()) {
    inference::ModelInstanceGroup* out = triton.add_instance_group();
    out->set_count(group.count());
    out->set_kind(ToTritonKind(group.kind()));
    for (int32_t gpu : group.gpus()) out->add_gpus(gpu);
  }

  if (config.has_dynamic_batching()) {
    const config::DynamicBatching& batching = config.dynamic_batching();
    inference::ModelDynamicBatching* out = triton.mutable_dynamic_batching();
    for (int32_t size : batching.preferred_batch_size()) out->add_preferred_batch_size(size);
    out->set_max_queue_delay_microseconds(batching.max_queue_delay_microseconds());
    // Triton's field is 32-bit; a larger limit is as good as none for any client.
    out->mutable_default_queue_policy()->set_max_queue_size(
        static_cast<uint32_t>(std::min<uint64_t>(batching.max_queue_size(), std::numeric_limits<uint32_t>::max())));
    out->mutable_default_queue_policy()->set_default_timeout_microseconds(batching.default_timeout_microseconds());
  }

  auto& parameters = *triton.mutable_parameters();
  if (config.has_architecture()) {
    parameters["architecture"].set_string_value(SingleLineText(config.architecture()));
  }
  if (config.has_input_preprocessing()) {
    parameters["input_preprocessing"].set_string_value(SingleLineText(config.input_preprocessing()));
  }
  if (config.has_optimization()) {
    parameters["optimization"].set_string_value(SingleLineText(config.optimization()));
  }
  return triton;
}

}  // namespace wtserve::api
