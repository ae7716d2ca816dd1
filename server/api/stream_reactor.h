// One ModelStreamInfer call (Triton's stream semantics): requests are read one after another and
// answered in completion order, one write in flight at a time. Internal to api/: created by
// InferenceService::ModelStreamInfer, closed by InferenceService::CloseStreams.
#ifndef WTSERVE_SERVER_API_STREAM_REACTOR_H_
#define WTSERVE_SERVER_API_STREAM_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include "inference.grpc.pb.h"  // generated from proto/

namespace wtserve::api {

class InferenceService;
class StreamReactor;

using StreamInferReactor = grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

// Starts the stream of `ctx` for `service`; gRPC owns the reactor (deleted when done).
StreamInferReactor* StartStream(InferenceService* service, grpc::CallbackServerContext* ctx);
// A stream refused before it starts (authentication): finished at once with `status`.
StreamInferReactor* RefuseStream(const grpc::Status& status);
// Ends `stream` with UNAVAILABLE once its accepted requests are answered. Called with the
// service's stream registry locked, so `stream` is alive.
void CloseStream(StreamReactor* stream);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_STREAM_REACTOR_H_
