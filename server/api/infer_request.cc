#include "server/api/infer_request.h"

#include <cstring>
#include <set>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/oip/bytes_elements.h"
#include "server/runtime/model_config.h"
#include "server/runtime/preprocess.h"

namespace wtserve::api {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;

std::string Shape(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// Splits the raw BYTES form (common/oip/bytes_elements.h) into `expected` elements.
absl::StatusOr<std::vector<std::string_view>> SplitRawBytes(const std::string& raw, int64_t expected,
                                                            const std::string& input) {
  oip::BytesElements split = oip::SplitBytesElements(raw);
  if (!split.complete && !split.declared.has_value()) {
    return Invalid(absl::StrCat("input '", input, "': raw BYTES content is truncated: ", split.remaining,
                                " bytes left where a 4-byte length of element ", split.elements.size(),
                                " was expected"));
  }
  if (!split.complete) {
    return Invalid(absl::StrCat("input '", input, "': raw BYTES element ", split.elements.size(), " declares ",
                                *split.declared, " bytes but only ", split.remaining, " remain"));
  }
  if (static_cast<int64_t>(split.elements.size()) != expected) {
    return Invalid(absl::StrCat("input '", input, "': raw BYTES content holds ", split.elements.size(),
                                " elements, shape says ", expected));
  }
  return std::move(split.elements);
}

absl::Status CheckOnlyField(const inference::InferTensorContents& c, const std::string& input,
                            const std::string& datatype, const char* field, int used_size) {
  const int total = c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() + c.uint_contents_size() +
                    c.uint64_contents_size() + c.fp32_contents_size() + c.fp64_contents_size() +
                    c.bytes_contents_size();
  if (total != used_size) {
    return Invalid(absl::StrCat("input '", input, "': ", datatype, " typed contents go in ", field,
                                "; other content fields are set"));
  }
  return absl::OkStatus();
}

// Triton's shared-memory parameters name a region registered with SystemSharedMemoryRegister;
// wtserve registers none, so such a tensor is refused as Triton refuses an unregistered region
// (answering it inline instead would ignore what the client asked for).
absl::Status RefuseSharedMemory(const google::protobuf::Map<std::string, InferParameter>& parameters,
                                const std::string& tensor) {
  const auto it = parameters.find("shared_memory_region");
  if (it == parameters.end()) return absl::OkStatus();
  return Invalid(absl::StrCat(tensor, " uses shared memory region '", it->second.string_param(),
                              "', which is not registered: wtserve has no shared memory "
                              "(SystemSharedMemoryRegister is not served); send the tensor inline"));
}

absl::StatusOr<std::optional<absl::Duration>> QueueTimeout(const ModelInferRequest& request) {
  auto it = request.parameters().find("timeout");
  if (it == request.parameters().end()) return std::optional<absl::Duration>();
  int64_t micros = 0;
  if (it->second.parameter_choice_case() == InferParameter::kInt64Param) {
    micros = it->second.int64_param();
  } else if (it->second.parameter_choice_case() == InferParameter::kUint64Param &&
             it->second.uint64_param() <= static_cast<uint64_t>(INT64_MAX)) {
    micros = static_cast<int64_t>(it->second.uint64_param());
  } else {
    return Invalid("parameter 'timeout' must be an int64 number of microseconds");
  }
  if (micros < 0) return Invalid(absl::StrCat("parameter 'timeout' must be >= 0, got ", micros));
  return std::optional<absl::Duration>(absl::Microseconds(micros));
}

absl::StatusOr<std::vector<RequestedOutput>> Outputs(const ModelInferRequest& request, const config::ModelConfig& cfg) {
  const config::ModelOutput& out = cfg.output(0);
  std::vector<RequestedOutput> outputs;
  std::set<std::string> seen;
  for (const auto& requested : request.outputs()) {
    if (requested.name() != out.name()) {
      return Invalid(absl::StrCat("unknown output '", requested.name(), "'; model '", cfg.name(), "' has output '",
                                  out.name(), "'"));
    }
    const std::string what = absl::StrCat("output '", requested.name(), "'");
    if (absl::Status shm = RefuseSharedMemory(requested.parameters(), what); !shm.ok()) return shm;
    RequestedOutput o{requested.name(), 0};
    auto it = requested.parameters().find("classification");
    if (it != requested.parameters().end()) {
      const InferParameter& p = it->second;
      if (p.parameter_choice_case() == InferParameter::kInt64Param) {
        o.classification = p.int64_param();
      } else if (p.parameter_choice_case() == InferParameter::kUint64Param &&
                 p.uint64_param() <= static_cast<uint64_t>(out.dims(0))) {
        o.classification = static_cast<int64_t>(p.uint64_param());
      } else if (p.parameter_choice_case() != InferParameter::kUint64Param) {
        return Invalid(absl::StrCat("output '", requested.name(), "': parameter 'classification' must be an int64 k"));
      } else {
        o.classification = out.dims(0) + 1;  // reported as out of range below
      }
      if (o.classification < 1 || o.classification > out.dims(0)) {
        return Invalid(absl::StrCat("output '", requested.name(), "': parameter 'classification' must be in [1, ",
                                    out.dims(0), "] (the number of classes), got ", o.classification));
      }
    }
    // As Triton ("output already exists in request"): one entry per output name, so a response
    // never carries two tensors of one name (the logits and their top-k, say).
    if (!seen.insert(o.name).second) {
      return Invalid(absl::StrCat("output '", requested.name(),
                                  "' is requested twice; ask for it once, "
                                  "either as logits or with 'classification' (two requests for both)"));
    }
    outputs.push_back(std::move(o));
  }
  if (outputs.empty()) outputs.push_back({out.name(), 0});
  return outputs;
}

}  // namespace

absl::StatusOr<DecodedRequest> DecodeInferRequest(const ModelInferRequest& request, const config::ModelConfig& cfg) {
  const config::ModelInput& in = cfg.input(0);
  if (request.inputs_size() == 0) {
    return Invalid(absl::StrCat("missing input '", in.name(), "'"));
  }
  if (request.inputs_size() != 1) {
    return Invalid(
        absl::StrCat("model '", cfg.name(), "' takes 1 input ('", in.name(), "'), got ", request.inputs_size()));
  }
  const auto& input = request.inputs(0);
  if (input.name() != in.name()) {
    return Invalid(
        absl::StrCat("unknown input '", input.name(), "'; model '", cfg.name(), "' has input '", in.name(), "'"));
  }
  if (absl::Status shm = RefuseSharedMemory(input.parameters(), absl::StrCat("input '", input.name(), "'"));
      !shm.ok()) {
    return shm;
  }
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return Invalid(absl::StrCat("raw_input_contents has ", request.raw_input_contents_size(), " entries for ",
                                request.inputs_size(), " input(s)"));
  }
  if (raw && input.has_contents()) {
    return Invalid(absl::StrCat("input '", input.name(), "' sets contents while raw_input_contents is used; use one"));
  }
  const int64_t c = in.dims(0);
  const std::string& datatype = input.datatype();
  const auto& shape = input.shape();
  DecodedRequest decoded;

  // The batch size, checked first so that later size arithmetic cannot overflow.
  if (shape.empty()) {
    return Invalid(absl::StrCat("input '", input.name(), "': shape is empty"));
  }
  const int64_t n = shape[0];
  if (n < 1 || n > cfg.max_batch_size()) {
    return Invalid(absl::StrCat("input '", input.name(), "': batch size ", n,
                                " must be in [1, max_batch_size = ", cfg.max_batch_size(), "]"));
  }

  at::Tensor pixels;  // uint8 or float32 [N, C, H, W]
  if (datatype == "FP32" || datatype == "UINT8") {
    const bool variable = runtime::HasVariableSpatialDims(in);
    if (shape.size() != 4 || shape[1] != c || (!variable && (shape[2] != in.dims(1) || shape[3] != in.dims(2)))) {
      return Invalid(absl::StrCat("input '", input.name(), "': shape ", Shape(shape), " does not match [N, ", c, ", ",
                                  in.dims(1), ", ", in.dims(2), "]"));
    }
    const int64_t h = shape[2], w = shape[3];
    if (absl::Status s = runtime::CheckSpatialSize(in, h, w); !s.ok()) {
      return Invalid(absl::StrCat("input '", input.name(), "': shape ", Shape(shape), ": ", s.message()));
    }
    const int64_t count = n * c * h * w;
    const bool fp32 = datatype == "FP32";
    pixels = at::empty({n, c, h, w}, fp32 ? at::kFloat : at::kByte);
    if (raw) {
      const std::string& bytes = request.raw_input_contents(0);
      const int64_t expected = count * (fp32 ? 4 : 1);
      if (static_cast<int64_t>(bytes.size()) != expected) {
        return Invalid(absl::StrCat("input '", input.name(), "': raw content has ", bytes.size(), " bytes, ", datatype,
                                    " ", Shape(shape), " needs ", expected));
      }
      // The wire is little-endian, as is every platform LibTorch serves on.
      std::memcpy(pixels.data_ptr(), bytes.data(), bytes.size());
    } else if (fp32) {
      const auto& values = input.contents().fp32_contents();
      if (auto s = CheckOnlyField(input.contents(), input.name(), datatype, "fp32_contents", values.size()); !s.ok()) {
        return s;
      }
      if (values.size() != count) {
        return Invalid(absl::StrCat("input '", input.name(), "': fp32_contents has ", values.size(), " values, shape ",
                                    Shape(shape), " needs ", count));
      }
      std::memcpy(pixels.data_ptr(), values.data(), count * sizeof(float));
    } else {
      const auto& values = input.contents().uint_contents();
      if (auto s = CheckOnlyField(input.contents(), input.name(), datatype, "uint_contents", values.size()); !s.ok()) {
        return s;
      }
      if (values.size() != count) {
        return Invalid(absl::StrCat("input '", input.name(), "': uint_contents has ", values.size(), " values, shape ",
                                    Shape(shape), " needs ", count));
      }
      uint8_t* out = pixels.data_ptr<uint8_t>();
      for (int64_t i = 0; i < count; ++i) {
        if (values[i] > 255) {
          return Invalid(
              absl::StrCat("input '", input.name(), "': UINT8 value ", values[i], " at index ", i, " is out of range"));
        }
        out[i] = static_cast<uint8_t>(values[i]);
      }
    }
    if (fp32 && !at::isfinite(pixels).all().item<bool>()) {
      return Invalid(absl::StrCat("input '", input.name(), "': FP32 values must be finite"));
    }
  } else if (datatype == "BYTES") {
    if (!(shape.size() == 1 || (shape.size() == 2 && shape[1] == 1))) {
      return Invalid(absl::StrCat("input '", input.name(), "': BYTES shape ", Shape(shape),
                                  " must be [N] or [N, 1] (one encoded image per element)"));
    }
    std::vector<std::string_view> images;
    if (raw) {
      auto split = SplitRawBytes(request.raw_input_contents(0), n, input.name());
      if (!split.ok()) return split.status();
      images = *std::move(split);
    } else {
      const auto& values = input.contents().bytes_contents();
      if (auto s = CheckOnlyField(input.contents(), input.name(), datatype, "bytes_contents", values.size()); !s.ok()) {
        return s;
      }
      if (values.size() != n) {
        return Invalid(absl::StrCat("input '", input.name(), "': bytes_contents has ", values.size(),
                                    " elements, shape ", Shape(shape), " needs ", n));
      }
      for (const std::string& v : values) images.emplace_back(v);
    }
    for (int64_t i = 0; i < n; ++i) {
      absl::StatusOr<at::Tensor> image = runtime::DecodeImage(images[i], in, cfg.input_preprocessing());
      if (!image.ok()) {
        return Invalid(absl::StrCat("input '", input.name(), "' element ", i, ": ", image.status().message()));
      }
      // Every image of one request has one size; with variable dims that is element 0's.
      if (i == 0) pixels = at::empty({n, c, image->size(1), image->size(2)}, at::kByte);
      if (image->sizes() != pixels.sizes().slice(1)) {
        return Invalid(absl::StrCat("input '", input.name(), "' element ", i, " is ", image->size(2), "x",
                                    image->size(1), " pixels after preprocessing, element 0 is ", pixels.size(3), "x",
                                    pixels.size(2),
                                    "; the images of one request must share a size (send them "
                                    "separately, or have the model resize them: input_preprocessing)"));
      }
      pixels[i].copy_(*image);
    }
  } else {
    return Invalid(absl::StrCat("input '", input.name(), "': datatype '", datatype,
                                "' is not supported; use FP32, UINT8 or BYTES"));
  }

  absl::StatusOr<at::Tensor> images = runtime::NormalizePixels(pixels, cfg.input_preprocessing());
  if (!images.ok()) return images.status();
  decoded.images = *std::move(images);
  absl::StatusOr<std::vector<RequestedOutput>> outputs = Outputs(request, cfg);
  if (!outputs.ok()) return outputs.status();
  decoded.outputs = *std::move(outputs);
  absl::StatusOr<std::optional<absl::Duration>> timeout = QueueTimeout(request);
  if (!timeout.ok()) return timeout.status();
  decoded.queue_timeout = *timeout;
  return decoded;
}

void EncodeInferResponse(const ModelInferRequest& request, const std::string& model_version,
                         const std::vector<std::string>& labels, const std::vector<RequestedOutput>& outputs,
                         const at::Tensor& logits, inference::ModelInferResponse* response) {
  response->set_model_name(request.model_name());
  response->set_model_version(model_version);
  response->set_id(request.id());
  const int64_t n = logits.size(0);
  const int64_t classes = logits.size(1);
  const at::Tensor contiguous = logits.contiguous();
  for (const RequestedOutput& o : outputs) {
    auto* tensor = response->add_outputs();
    tensor->set_name(o.name);
    tensor->add_shape(n);
    if (o.classification == 0) {
      tensor->set_datatype("FP32");
      tensor->add_shape(classes);
      response->add_raw_output_contents(static_cast<const char*>(contiguous.data_ptr()),
                                        static_cast<size_t>(n * classes) * sizeof(float));
      continue;
    }
    tensor->set_datatype("BYTES");
    tensor->add_shape(o.classification);
    const auto [values, indices] = at::topk(contiguous, o.classification, /*dim=*/1);
    const float* v = values.data_ptr<float>();
    const int64_t* idx = indices.data_ptr<int64_t>();
    std::string raw;
    for (int64_t i = 0; i < n * o.classification; ++i) {
      const std::string element = labels.empty() ? absl::StrFormat("%f:%d", v[i], idx[i])
                                                 : absl::StrFormat("%f:%d:%s", v[i], idx[i], labels[idx[i]]);
      oip::AppendBytesElement(element, &raw);
    }
    *response->add_raw_output_contents() = std::move(raw);
  }
}

}  // namespace wtserve::api
