#include "client/lib/convert.h"

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace wtserve::internal {

absl::Status ToStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status ToProto(const InferRequest& request, inference::ModelInferRequest* out) {
  if (request.model_name.empty()) return absl::InvalidArgumentError("infer request has no model_name");
  if (request.inputs.empty()) return absl::InvalidArgumentError("infer request has no inputs");
  out->set_model_name(request.model_name);
  out->set_model_version(request.model_version);
  out->set_id(request.id);
  if (request.queue_timeout > absl::ZeroDuration()) {
    (*out->mutable_parameters())["timeout"].set_int64_param(absl::ToInt64Microseconds(request.queue_timeout));
  }
  for (const Tensor& t : request.inputs) {
    if (absl::Status s = t.Validate(); !s.ok()) return s;
    auto* input = out->add_inputs();
    input->set_name(t.name);
    input->set_datatype(t.datatype);
    for (int64_t d : t.shape) input->add_shape(d);
    out->add_raw_input_contents(t.raw);
  }
  for (const RequestedOutput& o : request.outputs) {
    auto* output = out->add_outputs();
    output->set_name(o.name);
    if (o.classification_top_k > 0) {
      (*output->mutable_parameters())["classification"].set_int64_param(o.classification_top_k);
    }
  }
  return absl::OkStatus();
}

namespace {

template <typename T, typename Repeated>
std::string PackAs(const Repeated& values) {
  std::string raw(static_cast<size_t>(values.size()) * sizeof(T), '\0');
  char* p = raw.data();
  for (const auto& v : values) {
    const T typed = static_cast<T>(v);
    std::memcpy(p, &typed, sizeof(T));
    p += sizeof(T);
  }
  return raw;
}

absl::StatusOr<std::string> RawFromContents(const inference::ModelInferResponse::InferOutputTensor& o) {
  const auto& c = o.contents();
  const std::string& dt = o.datatype();
  if (dt == "FP32") return PackAs<float>(c.fp32_contents());
  if (dt == "FP64") return PackAs<double>(c.fp64_contents());
  if (dt == "INT64") return PackAs<int64_t>(c.int64_contents());
  if (dt == "INT32") return PackAs<int32_t>(c.int_contents());
  if (dt == "INT16") return PackAs<int16_t>(c.int_contents());
  if (dt == "INT8") return PackAs<int8_t>(c.int_contents());
  if (dt == "UINT64") return PackAs<uint64_t>(c.uint64_contents());
  if (dt == "UINT32") return PackAs<uint32_t>(c.uint_contents());
  if (dt == "UINT16") return PackAs<uint16_t>(c.uint_contents());
  if (dt == "UINT8") return PackAs<uint8_t>(c.uint_contents());
  if (dt == "BOOL") return PackAs<uint8_t>(c.bool_contents());
  if (dt == "BYTES") {
    std::vector<std::string> elements(c.bytes_contents().begin(), c.bytes_contents().end());
    return Tensor::Bytes("", {}, elements).raw;
  }
  return absl::InternalError(absl::StrCat("output '", o.name(), "' has unsupported datatype '", dt, "'"));
}

}  // namespace

absl::StatusOr<InferResult> FromProto(const inference::ModelInferResponse& response) {
  InferResult result;
  result.model_name = response.model_name();
  result.model_version = response.model_version();
  result.id = response.id();
  const bool raw = response.raw_output_contents_size() > 0;
  if (raw && response.raw_output_contents_size() != response.outputs_size()) {
    return absl::InternalError(absl::StrCat("response has ", response.outputs_size(), " outputs but ",
                                            response.raw_output_contents_size(), " raw_output_contents"));
  }
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& o = response.outputs(i);
    Tensor t{o.name(), o.datatype(), {o.shape().begin(), o.shape().end()}, {}};
    if (raw) {
      t.raw = response.raw_output_contents(i);
    } else {
      absl::StatusOr<std::string> contents = RawFromContents(o);
      if (!contents.ok()) return contents.status();
      t.raw = *std::move(contents);
    }
    if (absl::Status s = t.Validate(); !s.ok()) {
      return absl::InternalError(absl::StrCat("malformed response: ", s.message()));
    }
    result.outputs.push_back(std::move(t));
  }
  return result;
}

namespace {

// The status code whose name (absl::StatusCodeToString, which the server writes: "UNAVAILABLE",
// ...) begins `text`, with the name's length; nullopt if none. The names are the writer's own,
// so the two sides cannot drift; no name is a prefix of another.
std::optional<absl::StatusCode> FindCode(std::string_view text, size_t* name_length) {
  for (int value = 1; value <= static_cast<int>(absl::StatusCode::kUnauthenticated); ++value) {
    const auto code = static_cast<absl::StatusCode>(value);
    const std::string name = absl::StatusCodeToString(code);
    if (text.substr(0, name.size()) == name) {
      *name_length = name.size();
      return code;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status StreamErrorToStatus(const std::string& message) {
  size_t n = 0;
  const std::optional<absl::StatusCode> code = FindCode(message, &n);
  if (code.has_value() && message.size() > n + 1 && message[n] == ':') {
    size_t start = n + 1;
    while (start < message.size() && message[start] == ' ') ++start;
    return absl::Status(*code, message.substr(start));
  }
  return absl::UnknownError(message.empty() ? "stream request failed without a message" : message);
}

absl::Status StreamResponseError(const inference::ModelStreamInferResponse& response) {
  const auto& parameters = response.infer_response().parameters();
  const auto it = parameters.find("wtserve_status_code");
  if (it != parameters.end()) {
    const std::string& name = it->second.string_param();
    size_t n = 0;
    const std::optional<absl::StatusCode> code = FindCode(name, &n);
    if (code.has_value() && n == name.size()) {
      return absl::Status(*code, response.error_message().empty() ? "stream request failed without a message"
                                                                  : response.error_message());
    }
  }
  return StreamErrorToStatus(response.error_message());
}

}  // namespace wtserve::internal
