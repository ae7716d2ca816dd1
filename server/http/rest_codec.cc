#include "server/http/rest_codec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/oip/bytes_elements.h"

namespace wtserve::http {
namespace {

using inference::InferParameter;
using nlohmann::json;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// Tensors have a handful of dimensions; a deeper `data` nesting is malformed, and bounding it
// keeps the flattening recursion shallow whatever the client sends.
constexpr int kMaxDataNesting = 16;

std::string Dump(const json& value) {
  // Labels come from files and may not be UTF-8: replace bad bytes instead of throwing.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<json> ParseJson(std::string_view text, const char* what) {
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Invalid(absl::StrCat(what, " is not valid JSON"));
  return value;
}

// A JSON parameter value as an InferParameter: bool, integer, string or number.
absl::StatusOr<InferParameter> ToParameter(const json& value, const std::string& where) {
  InferParameter p;
  if (value.is_boolean()) {
    p.set_bool_param(value.get<bool>());
  } else if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v <= static_cast<uint64_t>(INT64_MAX)) {
      p.set_int64_param(static_cast<int64_t>(v));
    } else {
      p.set_uint64_param(v);
    }
  } else if (value.is_number_integer()) {
    p.set_int64_param(value.get<int64_t>());
  } else if (value.is_number_float()) {
    p.set_double_param(value.get<double>());
  } else if (value.is_string()) {
    p.set_string_param(value.get<std::string>());
  } else {
    return Invalid(absl::StrCat(where, " must be a boolean, number or string"));
  }
  return p;
}

// Copies `parameters` (a JSON object) into `out`, except the keys the REST layer consumes.
absl::Status CopyParameters(const json& parameters, const std::string& where,
                            std::initializer_list<const char*> consumed,
                            google::protobuf::Map<std::string, InferParameter>* out) {
  if (!parameters.is_object()) return Invalid(absl::StrCat(where, " must be a JSON object"));
  for (const auto& [key, value] : parameters.items()) {
    bool skip = false;
    for (const char* c : consumed) skip = skip || key == c;
    if (skip) continue;
    absl::StatusOr<InferParameter> p = ToParameter(value, absl::StrCat(where, ".", key));
    if (!p.ok()) return p.status();
    (*out)[key] = *std::move(p);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> OptionalBool(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) return false;
  const json& v = object.at(key);
  if (!v.is_boolean()) return Invalid(absl::StrCat(where, ".", key, " must be true or false"));
  return v.get<bool>();
}

// Appends the leaves of a flat or nested array to `leaves`, in row-major order.
absl::Status Flatten(const json& data, int depth, const std::string& where, std::vector<const json*>* leaves) {
  if (!data.is_array()) {
    leaves->push_back(&data);
    return absl::OkStatus();
  }
  if (depth >= kMaxDataNesting) {
    return Invalid(absl::StrCat(where, " is nested deeper than ", kMaxDataNesting, " levels"));
  }
  for (const json& element : data) {
    if (absl::Status s = Flatten(element, depth + 1, where, leaves); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The JSON `data` of one input into its typed contents (types other than FP32, UINT8 and BYTES
// are left empty, and the shared request decoder names the datatype as unsupported).
absl::Status FillContents(const json& data, const std::string& datatype, const std::string& name,
                          inference::ModelInferRequest::InferInputTensor* input) {
  const std::string where = absl::StrCat("input '", name, "' data");
  std::vector<const json*> leaves;
  if (absl::Status s = Flatten(data, 0, where, &leaves); !s.ok()) return s;
  auto* contents = input->mutable_contents();
  for (size_t i = 0; i < leaves.size(); ++i) {
    const json& v = *leaves[i];
    if (datatype == "FP32") {
      if (!v.is_number()) return Invalid(absl::StrCat(where, "[", i, "] is not a number"));
      contents->add_fp32_contents(v.get<float>());
    } else if (datatype == "UINT8") {
      if (!v.is_number_unsigned()) {
        return Invalid(absl::StrCat(where, "[", i, "] is not an integer in [0, 255]"));
      }
      const uint64_t x = v.get<uint64_t>();
      // Values above 255 are refused (with the value) by the shared request decoder.
      contents->add_uint_contents(static_cast<uint32_t>(std::min<uint64_t>(x, UINT32_MAX)));
    } else if (datatype == "BYTES") {
      if (!v.is_string()) return Invalid(absl::StrCat(where, "[", i, "] is not a string"));
      contents->add_bytes_contents(v.get<std::string>());
    } else {
      break;
    }
  }
  return absl::OkStatus();
}

json ParametersJson(const google::protobuf::Map<std::string, InferParameter>& parameters) {
  json out = json::object();
  for (const auto& [key, p] : parameters) {
    switch (p.parameter_choice_case()) {
      case InferParameter::kBoolParam: out[key] = p.bool_param(); break;
      case InferParameter::kInt64Param: out[key] = p.int64_param(); break;
      case InferParameter::kStringParam: out[key] = p.string_param(); break;
      case InferParameter::kDoubleParam: out[key] = p.double_param(); break;
      case InferParameter::kUint64Param: out[key] = p.uint64_param(); break;
      default: break;
    }
  }
  return out;
}

// The elements of a raw BYTES tensor (as the server writes them).
json BytesElements(const std::string& raw) {
  json out = json::array();
  for (std::string_view element : oip::SplitBytesElements(raw).elements) out.push_back(std::string(element));
  return out;
}

json Fp32Elements(const std::string& raw) {
  json out = json::array();
  const size_t n = raw.size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, raw.data() + i * sizeof(float), sizeof(float));
    out.push_back(v);
  }
  return out;
}

json DurationJson(const inference::StatisticDuration& d) { return {{"count", d.count()}, {"ns", d.ns()}}; }

}  // namespace

absl::StatusOr<RestInferRequest> ParseRestInferRequest(std::string_view body, std::optional<size_t> json_length,
                                                       const std::string& model_name,
                                                       const std::string& model_version) {
  std::string_view json_text = body;
  std::string_view binary;
  if (json_length.has_value()) {
    if (*json_length > body.size()) {
      return Invalid(
          absl::StrCat(kHeaderLengthHeader, " is ", *json_length, " but the body has ", body.size(), " bytes"));
    }
    json_text = body.substr(0, *json_length);
    binary = body.substr(*json_length);
  }
  absl::StatusOr<json> parsed = ParseJson(json_text, "the inference request");
  if (!parsed.ok()) return parsed.status();
  const json& header = *parsed;
  if (!header.is_object()) return Invalid("the inference request must be a JSON object");

  RestInferRequest out;
  inference::ModelInferRequest& request = out.request;
  request.set_model_name(model_name);
  request.set_model_version(model_version);
  if (header.contains("id")) {
    if (!header["id"].is_string()) return Invalid("\"id\" must be a string");
    request.set_id(header["id"].get<std::string>());
  }
  if (header.contains("parameters")) {
    absl::StatusOr<bool> binary_default = OptionalBool(header["parameters"], "binary_data_output", "parameters");
    if (!binary_default.ok()) return binary_default.status();
    out.binary_by_default = *binary_default;
    if (absl::Status s =
            CopyParameters(header["parameters"], "parameters", {"binary_data_output"}, request.mutable_parameters());
        !s.ok()) {
      return s;
    }
  }

  if (!header.contains("inputs") || !header["inputs"].is_array()) {
    return Invalid("\"inputs\" must be an array of tensors");
  }
  size_t binary_used = 0;
  int binary_inputs = 0;
  for (const json& tensor : header["inputs"]) {
    const std::string where = absl::StrCat("inputs[", request.inputs_size(), "]");
    if (!tensor.is_object()) return Invalid(absl::StrCat(where, " must be a JSON object"));
    if (!tensor.contains("name") || !tensor["name"].is_string()) {
      return Invalid(absl::StrCat(where, ".name must be a string"));
    }
    if (!tensor.contains("datatype") || !tensor["datatype"].is_string()) {
      return Invalid(absl::StrCat(where, ".datatype must be a string"));
    }
    if (!tensor.contains("shape") || !tensor["shape"].is_array()) {
      return Invalid(absl::StrCat(where, ".shape must be an array of integers"));
    }
    auto* input = request.add_inputs();
    input->set_name(tensor["name"].get<std::string>());
    input->set_datatype(tensor["datatype"].get<std::string>());
    for (const json& d : tensor["shape"]) {
      if (!d.is_number_integer()) return Invalid(absl::StrCat(where, ".shape must be an array of integers"));
      input->add_shape(d.get<int64_t>());
    }
    std::optional<uint64_t> binary_size;
    if (tensor.contains("parameters")) {
      const json& p = tensor["parameters"];
      if (p.is_object() && p.contains("binary_data_size")) {
        if (!p["binary_data_size"].is_number_unsigned()) {
          return Invalid(absl::StrCat(where, ".parameters.binary_data_size must be an integer >= 0"));
        }
        binary_size = p["binary_data_size"].get<uint64_t>();
      }
      if (absl::Status s = CopyParameters(p, where + ".parameters", {"binary_data_size"}, input->mutable_parameters());
          !s.ok()) {
        return s;
      }
    }
    if (binary_size.has_value()) {
      if (*binary_size > binary.size() - binary_used) {
        return Invalid(absl::StrCat("input '", input->name(), "': binary_data_size ", *binary_size,
                                    " is more than the ", binary.size() - binary_used, " bytes of binary data left"));
      }
      request.add_raw_input_contents(std::string(binary.substr(binary_used, *binary_size)));
      binary_used += *binary_size;
      ++binary_inputs;
      if (tensor.contains("data")) {
        return Invalid(absl::StrCat("input '", input->name(), "' has both binary_data_size and data"));
      }
    } else if (input->parameters().count("shared_memory_region") > 0) {
      if (tensor.contains("data")) {
        return Invalid(absl::StrCat("input '", input->name(), "' has both a shared memory region and data"));
      }
    } else {
      if (!tensor.contains("data")) {
        return Invalid(
            absl::StrCat("input '", input->name(), "' has neither \"data\" nor parameters.binary_data_size"));
      }
      if (absl::Status s = FillContents(tensor["data"], input->datatype(), input->name(), input); !s.ok()) {
        return s;
      }
    }
  }
  if (binary_inputs > 0 && binary_inputs != request.inputs_size()) {
    return Invalid("either every input is binary (binary_data_size) or none is");
  }
  if (binary_used != binary.size()) {
    return Invalid(absl::StrCat("the body has ", binary.size(),
                                " bytes after the JSON header but "
                                "the inputs' binary_data_size add up to ",
                                binary_used));
  }

  if (header.contains("outputs")) {
    if (!header["outputs"].is_array()) return Invalid("\"outputs\" must be an array");
    for (const json& tensor : header["outputs"]) {
      const std::string where = absl::StrCat("outputs[", request.outputs_size(), "]");
      if (!tensor.is_object() || !tensor.contains("name") || !tensor["name"].is_string()) {
        return Invalid(absl::StrCat(where, " must be an object with a string \"name\""));
      }
      auto* output = request.add_outputs();
      output->set_name(tensor["name"].get<std::string>());
      bool binary_output = out.binary_by_default;
      if (tensor.contains("parameters")) {
        const json& p = tensor["parameters"];
        if (p.is_object() && p.contains("binary_data")) {
          absl::StatusOr<bool> b = OptionalBool(p, "binary_data", where + ".parameters");
          if (!b.ok()) return b.status();
          binary_output = *b;
        }
        if (absl::Status s = CopyParameters(p, where + ".parameters", {"binary_data"}, output->mutable_parameters());
            !s.ok()) {
          return s;
        }
      }
      out.binary_outputs.push_back(binary_output);
    }
  }
  return out;
}

RestBody EncodeRestInferResponse(const inference::ModelInferResponse& response, const RestInferRequest& parsed) {
  json out = {{"model_name", response.model_name()}, {"model_version", response.model_version()}};
  if (!response.id().empty()) out["id"] = response.id();
  if (!response.parameters().empty()) out["parameters"] = ParametersJson(response.parameters());
  std::string tail;
  json outputs = json::array();
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& tensor = response.outputs(i);
    const std::string empty;
    const std::string& raw = i < response.raw_output_contents_size() ? response.raw_output_contents(i) : empty;
    const bool binary =
        static_cast<size_t>(i) < parsed.binary_outputs.size() ? parsed.binary_outputs[i] : parsed.binary_by_default;
    json entry = {{"name", tensor.name()},
                  {"datatype", tensor.datatype()},
                  {"shape", json(std::vector<int64_t>(tensor.shape().begin(), tensor.shape().end()))}};
    const auto& requested = parsed.request.outputs();
    if (i < requested.size() && requested[i].parameters().count("shared_memory_region") > 0) {
      // Written into the client's region already (its raw entry is empty).
      entry["parameters"] = ParametersJson(tensor.parameters());
      entry["parameters"]["shared_memory_region"] = requested[i].parameters().at("shared_memory_region").string_param();
    } else if (binary) {
      entry["parameters"] = {{"binary_data_size", raw.size()}};
      tail += raw;
    } else if (tensor.datatype() == "BYTES") {
      entry["data"] = BytesElements(raw);
    } else {
      entry["data"] = Fp32Elements(raw);
    }
    outputs.push_back(std::move(entry));
  }
  out["outputs"] = std::move(outputs);
  RestBody result;
  result.body = Dump(out);
  const bool any_binary =
      std::any_of(parsed.binary_outputs.begin(), parsed.binary_outputs.end(), [](bool b) { return b; }) ||
      (parsed.binary_outputs.empty() && parsed.binary_by_default);
  if (any_binary) {
    result.json_length = result.body.size();
    result.body += tail;
  }
  return result;
}

std::string ServerMetadataJson(const inference::ServerMetadataResponse& metadata) {
  return Dump(
      {{"name", metadata.name()},
       {"version", metadata.version()},
       {"extensions", json(std::vector<std::string>(metadata.extensions().begin(), metadata.extensions().end()))}});
}

std::string ModelMetadataJson(const inference::ModelMetadataResponse& metadata) {
  auto tensors = [](const auto& list) {
    json out = json::array();
    for (const auto& t : list) {
      out.push_back({{"name", t.name()},
                     {"datatype", t.datatype()},
                     {"shape", json(std::vector<int64_t>(t.shape().begin(), t.shape().end()))}});
    }
    return out;
  };
  return Dump({{"name", metadata.name()},
               {"versions", json(std::vector<std::string>(metadata.versions().begin(), metadata.versions().end()))},
               {"platform", metadata.platform()},
               {"inputs", tensors(metadata.inputs())},
               {"outputs", tensors(metadata.outputs())}});
}

std::string ModelConfigJson(const inference::ModelConfigResponse& config) {
  // Triton answers with protobuf's JSON mapping of its ModelConfig (int64 dims as strings).
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(config.config(), &text, options).ok()) {
    return ErrorJson("the model config cannot be written as JSON");
  }
  return text;
}

std::string ModelStatisticsJson(const inference::ModelStatisticsResponse& statistics) {
  json models = json::array();
  for (const auto& s : statistics.model_stats()) {
    json batches = json::array();
    for (const auto& b : s.batch_stats()) {
      batches.push_back({{"batch_size", b.batch_size()}, {"compute_infer", DurationJson(b.compute_infer())}});
    }
    const auto& i = s.inference_stats();
    models.push_back({{"name", s.name()},
                      {"version", s.version()},
                      {"last_inference", s.last_inference()},
                      {"inference_count", s.inference_count()},
                      {"execution_count", s.execution_count()},
                      {"inference_stats",
                       {{"success", DurationJson(i.success())},
                        {"fail", DurationJson(i.fail())},
                        {"queue", DurationJson(i.queue())},
                        {"compute_infer", DurationJson(i.compute_infer())}}},
                      {"batch_stats", std::move(batches)}});
  }
  return Dump({{"model_stats", std::move(models)}});
}

std::string RepositoryIndexJson(const inference::RepositoryIndexResponse& index) {
  json out = json::array();
  for (const auto& m : index.models()) {
    json entry = {{"name", m.name()}};
    if (!m.version().empty()) entry["version"] = m.version();
    if (!m.state().empty()) entry["state"] = m.state();
    if (!m.reason().empty()) entry["reason"] = m.reason();
    out.push_back(std::move(entry));
  }
  return Dump(out);
}

absl::StatusOr<SharedMemoryRegistration> ParseSharedMemoryRegistration(std::string_view body) {
  absl::StatusOr<json> parsed = ParseJson(body, "the register request");
  if (!parsed.ok()) return parsed.status();
  const json& r = *parsed;
  if (!r.is_object() || !r.contains("key") || !r["key"].is_string() || !r.contains("byte_size") ||
      !r["byte_size"].is_number_unsigned() || (r.contains("offset") && !r["offset"].is_number_unsigned())) {
    return Invalid("the register request must be {\"key\": string, \"offset\": integer, \"byte_size\": integer}");
  }
  SharedMemoryRegistration out;
  out.key = r["key"].get<std::string>();
  out.byte_size = r["byte_size"].get<uint64_t>();
  if (r.contains("offset")) out.offset = r["offset"].get<uint64_t>();
  return out;
}

std::string SharedMemoryStatusJson(const inference::SystemSharedMemoryStatusResponse& status) {
  json out = json::array();
  std::vector<std::string> names;
  for (const auto& [name, region] : status.regions()) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const auto& region = status.regions().at(name);
    out.push_back({{"name", region.name()},
                   {"key", region.key()},
                   {"offset", region.offset()},
                   {"byte_size", region.byte_size()}});
  }
  return Dump(out);
}

std::string ErrorJson(absl::string_view message) { return Dump({{"error", std::string(message)}}); }

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnknown: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

absl::StatusOr<bool> ReadyFlagOfIndexRequest(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return false;
  absl::StatusOr<json> parsed = ParseJson(body, "the index request");
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) return Invalid("the index request must be a JSON object");
  return OptionalBool(*parsed, "ready", "index request");
}

absl::StatusOr<google::protobuf::Map<std::string, inference::ModelRepositoryParameter>> LoadRequestParameters(
    std::string_view body) {
  google::protobuf::Map<std::string, inference::ModelRepositoryParameter> out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  absl::StatusOr<json> parsed = ParseJson(body, "the load request");
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) return Invalid("the load request must be a JSON object");
  if (!parsed->contains("parameters")) return out;
  const json& p = (*parsed)["parameters"];
  if (!p.is_object()) return Invalid("load request parameters must be a JSON object");
  for (const auto& [key, value] : p.items()) {
    inference::ModelRepositoryParameter& param = out[key];
    if (value.is_string()) {
      param.set_string_param(value.get<std::string>());
    } else if (value.is_boolean()) {
      param.set_bool_param(value.get<bool>());
    } else if (value.is_number_integer()) {
      param.set_int64_param(value.get<int64_t>());
    } else if (key == "config" && value.is_object()) {
      param.set_string_param(value.dump());  // the config given as an object instead of a string
    } else {
      return Invalid(absl::StrCat("load parameter '", key, "' must be a string, boolean or integer"));
    }
  }
  return out;
}

}  // namespace wtserve::http
