// wtserve C++ client: the Open Inference Protocol v2 gRPC API (inference.GRPCInferenceService,
// docs/reference.md §4) plus grpc.health.v1, for wtserve and other OIP v2 servers (Triton, KServe).
//
//   wtserve::ClientOptions options;
//   options.target = "localhost:8001";
//   absl::StatusOr<std::unique_ptr<wtserve::Client>> client = wtserve::Client::Create(options);
//   wtserve::ClassifyRequest request;
//   request.model_name = "wtconvnext_fmnist";
//   request.top_k = 3;
//   auto top = (*client)->Classify(request, {wtserve::ImageInput::Encoded(png_bytes)});
//
// Errors: every call returns absl::Status(Or). A failed RPC carries the gRPC status code (the
// absl and gRPC code numbers are the same) and the server's message unchanged, e.g.
// NOT_FOUND "unknown model 'x'", INVALID_ARGUMENT for shape/dtype mismatches, UNAVAILABLE when
// the server is unreachable or its queue is full, DEADLINE_EXCEEDED when the call's deadline
// passed. Errors found on the client side before sending are INVALID_ARGUMENT; a response the
// client cannot parse is INTERNAL.
//
// Thread safety: a Client is safe to use from many threads at once; share one per target.
#ifndef WTSERVE_CLIENT_CLIENT_H_
#define WTSERVE_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wtserve/tensor.h"

namespace wtserve {

// Transport security. Disabled: plaintext (insecure) channel.
struct TlsOptions {
  bool enabled = false;
  // PEM contents (not paths; see ReadPemFile). Empty root_certs: the system's trust store.
  std::string root_certs_pem;
  // Both set: mutual TLS (the client presents this certificate chain and key).
  std::string client_cert_pem;
  std::string client_key_pem;
  // Overrides the name checked against the server certificate (tests, IP targets).
  std::string server_name_override;
};

// Reads a PEM file for TlsOptions. NotFound when it cannot be read.
absl::StatusOr<std::string> ReadPemFile(const std::string& path);

struct ClientOptions {
  // gRPC target: "host:port", "dns:///host:port" (all A/AAAA records; with round_robin every
  // replica gets requests), "ipv4:10.0.0.1:8001,10.0.0.2:8001", "unix:/path".
  std::string target = "localhost:8001";
  TlsOptions tls;
  // Deadline applied to every call that does not pass its own; InfiniteDuration(): none.
  absl::Duration default_deadline = absl::Seconds(30);
  // Largest message sent or received, bytes (gRPC's default receive limit is 4 MiB).
  int max_message_bytes = 64 << 20;
  // Retries of UNAVAILABLE through gRPC's service-config retryPolicy: total attempts per call
  // including the first (gRPC caps it at 5); 1 disables retries. Backoff between attempts is
  // random in [0, min(initial * multiplier^n, max)] (gRPC's retry design, A6).
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double backoff_multiplier = 2.0;
  // "round_robin" spreads calls over every resolved address; "pick_first" uses one.
  std::string load_balancing_policy = "round_robin";
  // true: calls wait (up to their deadline) for the channel to connect instead of failing
  // UNAVAILABLE at once while the server is down.
  bool wait_for_ready = false;
};

// Per-call overrides.
struct CallOptions {
  // Zero: the client's default_deadline. InfiniteDuration(): no deadline.
  absl::Duration deadline = absl::ZeroDuration();
};

// grpc.health.v1 serving status. wtserve reports SERVING for service "" only once it is ready.
enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };
const char* HealthStatusName(HealthStatus status);

struct ServerMetadata {
  std::string name, version;
  std::vector<std::string> extensions;
};

struct TensorMetadata {
  std::string name;
  std::string datatype;        // "FP32", "UINT8", "BYTES", ...
  std::vector<int64_t> shape;  // -1 = variable (e.g. the batch dimension)
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorMetadata> inputs, outputs;
};

// One requested output. classification_top_k > 0 asks for Triton's classification extension:
// the output comes back as BYTES [batch, k] with elements "score:index[:label]".
struct RequestedOutput {
  std::string name;
  int64_t classification_top_k = 0;
};

struct InferRequest {
  std::string model_name;
  std::string model_version;  // empty: the server's choice (latest)
  std::string id;             // echoed in the response; streams assign one when empty
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: all outputs, raw
  // > 0: the server drops the request with UNAVAILABLE if it waited longer than this in the
  // queue ("timeout" parameter, µs on the wire).
  absl::Duration queue_timeout = absl::ZeroDuration();
};

struct InferResult {
  std::string model_name, model_version, id;
  std::vector<Tensor> outputs;  // contents normalised to Tensor::raw
  // The output of that name, or NotFound.
  absl::StatusOr<const Tensor*> Output(const std::string& name) const;
};

// One class of a top-k answer.
struct ClassScore {
  int64_t index = 0;
  float score = 0;    // the model's output value for that class (logit for wtserve models)
  std::string label;  // empty when the model has no labels
};
// Top-k of one image, best first.
using Classification = std::vector<ClassScore>;

// Parses a classification output (BYTES [batch, k], "score:index[:label]") into one
// Classification per batch element. InvalidArgument on malformed elements.
absl::StatusOr<std::vector<Classification>> ParseClassification(const Tensor& output);

// An image for Classify: either encoded bytes (PNG/JPEG; the server decodes, converts and
// resizes per the model's config) or 8-bit pixels.
struct ImageInput {
  // Encoded file contents, sent as one BYTES element.
  static ImageInput Encoded(std::string bytes);
  // Interleaved (HWC) 8-bit pixels, channels 1 (gray) or 3 (RGB), height*width*channels bytes.
  // Sent as a [C,H,W] tensor (see ClassifyRequest::pixel_datatype); the size must match the
  // model's input dims because the server does not resize tensors.
  static ImageInput Pixels(int64_t height, int64_t width, int64_t channels, std::vector<uint8_t> hwc);

  bool encoded = false;
  std::string bytes;  // encoded form
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // pixel form, HWC
};

struct ClassifyRequest {
  std::string model_name;
  std::string model_version;
  int64_t top_k = 1;
  // Empty: taken from the model's metadata (its first input / first output), fetched once and
  // cached per model.
  std::string input_name, output_name;
  // Wire type for pixel images: "UINT8" (server computes float(pixel) * scale) or "FP32"
  // (client sends float(pixel) * pixel_scale in float32, the same expression, so both agree
  // bit for bit when pixel_scale equals the model's input_preprocessing.scale).
  std::string pixel_datatype = "UINT8";
  float pixel_scale = 1.0f / 255.0f;
};

class InferStream;

class Client {
 public:
  using InferCallback = std::function<void(absl::StatusOr<InferResult>)>;

  // Builds the channel; does not connect (gRPC connects lazily). InvalidArgument for bad
  // options (empty target, max_attempts outside 1..5, non-positive backoff, unknown policy).
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // grpc.health.v1.Health/Check for `service` ("" = the whole server).
  absl::StatusOr<HealthStatus> HealthCheck(const std::string& service = "", CallOptions call = {});
  // Polls HealthCheck until SERVING or `timeout` passes (DeadlineExceeded, with the last
  // error). Each poll waits for the channel to connect, so no fixed sleeps are involved.
  absl::Status WaitUntilServing(absl::Duration timeout, const std::string& service = "");

  absl::StatusOr<bool> ServerLive(CallOptions call = {});
  absl::StatusOr<bool> ServerReady(CallOptions call = {});
  absl::StatusOr<bool> ModelReady(const std::string& model, const std::string& version = "", CallOptions call = {});
  absl::StatusOr<ServerMetadata> GetServerMetadata(CallOptions call = {});
  absl::StatusOr<ModelMetadata> GetModelMetadata(const std::string& model, const std::string& version = "",
                                                 CallOptions call = {});

  // ModelInfer. Inputs are validated (Tensor::Validate) before sending.
  absl::StatusOr<InferResult> Infer(const InferRequest& request, CallOptions call = {});
  // Asynchronous ModelInfer: returns at once; `done` runs exactly once on a gRPC thread (keep
  // it short, do not block in it). The request is copied, so it need not outlive the call.
  void InferAsync(const InferRequest& request, InferCallback done, CallOptions call = {});
  std::future<absl::StatusOr<InferResult>> InferFuture(const InferRequest& request, CallOptions call = {});

  // Classifies a batch of images in one request: result[i] is the top-k of images[i].
  // All images must have the same form, and pixel images the same size. Errors as Infer, plus
  // those of GetModelMetadata when names come from metadata.
  absl::StatusOr<std::vector<Classification>> Classify(const ClassifyRequest& request,
                                                       const std::vector<ImageInput>& images, CallOptions call = {});
  // Builds the InferRequest Classify would send (for callers that send it themselves, e.g. on
  // a stream or asynchronously); parse the result with ParseClassification.
  absl::StatusOr<InferRequest> BuildClassifyRequest(const ClassifyRequest& request,
                                                    const std::vector<ImageInput>& images, CallOptions call = {});

  // Opens a ModelStreamInfer bidirectional stream. `call.deadline` bounds the whole stream
  // (default: none, unlike unary calls).
  absl::StatusOr<std::unique_ptr<InferStream>> OpenStream(CallOptions call = {});

  const ClientOptions& options() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A ModelStreamInfer session: many requests in flight on one HTTP/2 stream, answered in any
// order (matched by request id). Thread-safe. Per-request failures (the stream's error_message)
// come back to that request's callback as UNKNOWN with the server's message, or with the code
// named by a leading "CODE_NAME: " in the message; the stream stays usable. If the stream itself
// ends (server gone, deadline), every pending callback gets that status and later Sends fail
// with it.
class InferStream {
 public:
  virtual ~InferStream() = default;
  // Queues `request` for sending; `done` runs once on a gRPC thread with its response.
  virtual void Send(const InferRequest& request, Client::InferCallback done) = 0;
  // Half-closes the stream, waits for every pending response, returns the stream's final status.
  // Called by the destructor if not called before.
  virtual absl::Status Finish() = 0;
};

}  // namespace wtserve

#endif  // WTSERVE_CLIENT_CLIENT_H_
