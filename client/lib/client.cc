#include "wtserve/client.h"

#include <map>
#include <utility>

#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/channel.h"
#include "client/lib/convert.h"
#include "client/lib/stream.h"
#include "common/image/pixel_layout.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference.grpc.pb.h"

namespace wtserve {

using internal::ToStatus;

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown: return "UNKNOWN";
    case HealthStatus::kServing: return "SERVING";
    case HealthStatus::kNotServing: return "NOT_SERVING";
    case HealthStatus::kServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

absl::StatusOr<const Tensor*> InferResult::Output(const std::string& name) const {
  for (const Tensor& t : outputs) {
    if (t.name == name) return &t;
  }
  std::vector<std::string> names;
  for (const Tensor& t : outputs) names.push_back(t.name);
  return absl::NotFoundError(
      absl::StrCat("response has no output '", name, "' (has: ", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<std::vector<Classification>> ParseClassification(const Tensor& output) {
  absl::StatusOr<std::vector<std::string>> elements = output.AsBytes();
  if (!elements.ok()) return elements.status();
  // [batch, k] normally; a model without a batch dimension answers [k].
  const int64_t k = output.shape.empty() ? 0 : output.shape.back();
  if (k <= 0 || static_cast<int64_t>(elements->size()) % k != 0) {
    return absl::InvalidArgumentError(absl::StrCat("classification output '", output.name, "' has shape [",
                                                   absl::StrJoin(output.shape, ","), "] and ", elements->size(),
                                                   " elements"));
  }
  std::vector<Classification> result(elements->size() / static_cast<size_t>(k));
  for (size_t i = 0; i < elements->size(); ++i) {
    const std::string& e = (*elements)[i];
    // "score:index" or "score:index:label"; the label may itself contain ':'.
    const size_t first = e.find(':');
    const size_t second = first == std::string::npos ? std::string::npos : e.find(':', first + 1);
    ClassScore score;
    const std::string index_text =
        first == std::string::npos
            ? ""
            : e.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
    if (first == std::string::npos || !absl::SimpleAtof(e.substr(0, first), &score.score) ||
        !absl::SimpleAtoi(index_text, &score.index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("classification element '", e, "' is not \"score:index[:label]\""));
    }
    if (second != std::string::npos) score.label = e.substr(second + 1);
    result[i / static_cast<size_t>(k)].push_back(std::move(score));
  }
  return result;
}

ImageInput ImageInput::Encoded(std::string bytes) {
  ImageInput image;
  image.encoded = true;
  image.bytes = std::move(bytes);
  return image;
}

ImageInput ImageInput::Pixels(int64_t height, int64_t width, int64_t channels, std::vector<uint8_t> hwc) {
  ImageInput image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels = std::move(hwc);
  return image;
}

struct Client::Impl {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  absl::Mutex mu;
  // model/version -> (first input name, first output name)
  std::map<std::string, std::pair<std::string, std::string>> io_names ABSL_GUARDED_BY(mu);

  void Prepare(grpc::ClientContext* context, const CallOptions& call) const {
    const absl::Duration deadline = call.deadline == absl::ZeroDuration() ? options.default_deadline : call.deadline;
    if (deadline != absl::InfiniteDuration()) context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    context->set_wait_for_ready(options.wait_for_ready);
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = internal::MakeChannel(options);
  if (!channel.ok()) return channel.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->channel = *channel;
  impl->stub = inference::GRPCInferenceService::NewStub(impl->channel);
  impl->health = grpc::health::v1::Health::NewStub(impl->channel);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }

absl::StatusOr<HealthStatus> Client::HealthCheck(const std::string& service, CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = impl_->health->Check(&context, request, &response);
  if (!status.ok()) return ToStatus(status);
  return static_cast<HealthStatus>(response.status());
}

absl::Status Client::WaitUntilServing(absl::Duration timeout, const std::string& service) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::UnavailableError("no health check completed");
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    // Waiting for the channel to connect (wait_for_ready) replaces sleeping between polls while
    // the server is down; once it is up but not ready, each poll is a round trip.
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + std::min(left, absl::Seconds(1))));
    context.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = impl_->health->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) return absl::OkStatus();
    last = status.ok() ? absl::UnavailableError(absl::StrCat(
                             "health status ", HealthStatusName(static_cast<HealthStatus>(response.status()))))
                       : ToStatus(status);
    if (status.ok()) {
      // Serving status changes come from the server; wait on the channel's state instead of a
      // fixed sleep: it returns early only if the connection breaks.
      const auto state = impl_->channel->GetState(false);
      impl_->channel->WaitForStateChange(state,
                                         absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Milliseconds(50))));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat("server at ", impl_->options.target, " not SERVING within ",
                                                  absl::FormatDuration(timeout), ": ", last.ToString()));
}

absl::StatusOr<bool> Client::ServerLive(CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ServerLiveResponse response;
  grpc::Status status = impl_->stub->ServerLive(&context, {}, &response);
  if (!status.ok()) return ToStatus(status);
  return response.live();
}

absl::StatusOr<bool> Client::ServerReady(CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ServerReadyResponse response;
  grpc::Status status = impl_->stub->ServerReady(&context, {}, &response);
  if (!status.ok()) return ToStatus(status);
  return response.ready();
}

absl::StatusOr<bool> Client::ModelReady(const std::string& model, const std::string& version, CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ModelReadyRequest request;
  request.set_name(model);
  request.set_version(version);
  inference::ModelReadyResponse response;
  grpc::Status status = impl_->stub->ModelReady(&context, request, &response);
  if (!status.ok()) return ToStatus(status);
  return response.ready();
}

absl::StatusOr<ServerMetadata> Client::GetServerMetadata(CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ServerMetadataResponse response;
  grpc::Status status = impl_->stub->ServerMetadata(&context, {}, &response);
  if (!status.ok()) return ToStatus(status);
  return ServerMetadata{
      response.name(), response.version(), {response.extensions().begin(), response.extensions().end()}};
}

absl::StatusOr<ModelMetadata> Client::GetModelMetadata(const std::string& model, const std::string& version,
                                                       CallOptions call) {
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ModelMetadataRequest request;
  request.set_name(model);
  request.set_version(version);
  inference::ModelMetadataResponse response;
  grpc::Status status = impl_->stub->ModelMetadata(&context, request, &response);
  if (!status.ok()) return ToStatus(status);
  ModelMetadata metadata;
  metadata.name = response.name();
  metadata.versions.assign(response.versions().begin(), response.versions().end());
  metadata.platform = response.platform();
  for (const auto& t : response.inputs())
    metadata.inputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
  for (const auto& t : response.outputs())
    metadata.outputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
  return metadata;
}

absl::StatusOr<InferResult> Client::Infer(const InferRequest& request, CallOptions call) {
  inference::ModelInferRequest message;
  if (absl::Status s = internal::ToProto(request, &message); !s.ok()) return s;
  grpc::ClientContext context;
  impl_->Prepare(&context, call);
  inference::ModelInferResponse response;
  grpc::Status status = impl_->stub->ModelInfer(&context, message, &response);
  if (!status.ok()) return ToStatus(status);
  return internal::FromProto(response);
}

void Client::InferAsync(const InferRequest& request, InferCallback done, CallOptions call) {
  struct Call {
    grpc::ClientContext context;
    inference::ModelInferRequest request;
    inference::ModelInferResponse response;
    InferCallback done;
  };
  auto state = std::make_unique<Call>();
  if (absl::Status s = internal::ToProto(request, &state->request); !s.ok()) {
    done(s);
    return;
  }
  impl_->Prepare(&state->context, call);
  state->done = std::move(done);
  Call* raw = state.release();
  impl_->stub->async()->ModelInfer(&raw->context, &raw->request, &raw->response, [raw](grpc::Status status) {
    std::unique_ptr<Call> owned(raw);
    InferCallback callback = std::move(owned->done);
    absl::StatusOr<InferResult> result = status.ok() ? internal::FromProto(owned->response) : ToStatus(status);
    // Free the call before the callback runs: once it returns, the caller may tear everything
    // down (its last callback is often what it waits for).
    owned.reset();
    callback(std::move(result));
  });
}

std::future<absl::StatusOr<InferResult>> Client::InferFuture(const InferRequest& request, CallOptions call) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<InferResult>>>();
  std::future<absl::StatusOr<InferResult>> future = promise->get_future();
  InferAsync(
      request, [promise](absl::StatusOr<InferResult> result) { promise->set_value(std::move(result)); }, call);
  return future;
}

absl::StatusOr<InferRequest> Client::BuildClassifyRequest(const ClassifyRequest& request,
                                                          const std::vector<ImageInput>& images, CallOptions call) {
  if (images.empty()) return absl::InvalidArgumentError("Classify needs at least one image");
  if (request.top_k <= 0) return absl::InvalidArgumentError(absl::StrCat("top_k must be > 0, got ", request.top_k));
  if (request.pixel_datatype != "UINT8" && request.pixel_datatype != "FP32") {
    return absl::InvalidArgumentError(
        absl::StrCat("pixel_datatype must be UINT8 or FP32, got '", request.pixel_datatype, "'"));
  }
  std::string input_name = request.input_name, output_name = request.output_name;
  if (input_name.empty() || output_name.empty()) {
    const std::string key = absl::StrCat(request.model_name, "/", request.model_version);
    std::pair<std::string, std::string> names;
    bool cached = false;
    {
      absl::MutexLock lock(&impl_->mu);
      auto it = impl_->io_names.find(key);
      if (it != impl_->io_names.end()) {
        names = it->second;
        cached = true;
      }
    }
    if (!cached) {
      absl::StatusOr<ModelMetadata> metadata = GetModelMetadata(request.model_name, request.model_version, call);
      if (!metadata.ok()) return metadata.status();
      if (metadata->inputs.empty() || metadata->outputs.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("model '", request.model_name, "' metadata lists no inputs or outputs"));
      }
      names = {metadata->inputs[0].name, metadata->outputs[0].name};
      absl::MutexLock lock(&impl_->mu);
      impl_->io_names[key] = names;
    }
    if (input_name.empty()) input_name = names.first;
    if (output_name.empty()) output_name = names.second;
  }

  InferRequest infer;
  infer.model_name = request.model_name;
  infer.model_version = request.model_version;
  infer.outputs.push_back({output_name, request.top_k});
  const int64_t n = static_cast<int64_t>(images.size());
  if (images[0].encoded) {
    std::vector<std::string> encoded;
    for (const ImageInput& image : images) {
      if (!image.encoded) return absl::InvalidArgumentError("Classify images mix encoded and pixel forms");
      encoded.push_back(image.bytes);
    }
    infer.inputs.push_back(Tensor::Bytes(input_name, {n, 1}, encoded));
    return infer;
  }
  const ImageInput& first = images[0];
  if (first.channels != 1 && first.channels != 3) {
    return absl::InvalidArgumentError(absl::StrCat("pixel images need 1 or 3 channels, got ", first.channels));
  }
  const int64_t c = first.channels, h = first.height, w = first.width, plane = h * w;
  std::vector<uint8_t> chw(static_cast<size_t>(n * c * plane));
  for (int64_t i = 0; i < n; ++i) {
    const ImageInput& image = images[static_cast<size_t>(i)];
    if (image.encoded || image.channels != c || image.height != h || image.width != w) {
      return absl::InvalidArgumentError(
          absl::StrCat("Classify image ", i, " differs in form or size from image 0 (", h, "x", w, "x", c, ")"));
    }
    if (static_cast<int64_t>(image.pixels.size()) != plane * c) {
      return absl::InvalidArgumentError(
          absl::StrCat("Classify image ", i, " has ", image.pixels.size(), " bytes, expected ", h, "*", w, "*", c));
    }
    wtserve::image::InterleavedToPlanar(image.pixels.data(), plane, c, chw.data() + i * c * plane);
  }
  if (request.pixel_datatype == "UINT8") {
    infer.inputs.push_back(Tensor::Uint8(input_name, {n, c, h, w}, chw));
  } else {
    std::vector<float> scaled(chw.size());
    for (size_t i = 0; i < chw.size(); ++i) scaled[i] = static_cast<float>(chw[i]) * request.pixel_scale;
    infer.inputs.push_back(Tensor::Fp32(input_name, {n, c, h, w}, scaled));
  }
  return infer;
}

absl::StatusOr<std::vector<Classification>> Client::Classify(const ClassifyRequest& request,
                                                             const std::vector<ImageInput>& images, CallOptions call) {
  absl::StatusOr<InferRequest> infer = BuildClassifyRequest(request, images, call);
  if (!infer.ok()) return infer.status();
  absl::StatusOr<InferResult> result = Infer(*infer, call);
  if (!result.ok()) return result.status();
  absl::StatusOr<const Tensor*> output = result->Output(infer->outputs[0].name);
  if (!output.ok()) return absl::InternalError(output.status().message());
  absl::StatusOr<std::vector<Classification>> top = ParseClassification(**output);
  if (!top.ok()) return absl::InternalError(top.status().message());
  if (top->size() != images.size()) {
    return absl::InternalError(absl::StrCat("server classified ", top->size(), " images, sent ", images.size()));
  }
  return top;
}

absl::StatusOr<std::unique_ptr<InferStream>> Client::OpenStream(CallOptions call) {
  const absl::Duration deadline = call.deadline == absl::ZeroDuration() ? absl::InfiniteDuration() : call.deadline;
  return internal::StartInferStream(impl_->stub.get(), deadline, impl_->options.wait_for_ready);
}

}  // namespace wtserve
