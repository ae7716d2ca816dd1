// ModelStreamInfer session (internal): a gRPC callback bidi reactor behind InferStream.
#ifndef WTSERVE_CLIENT_LIB_STREAM_H_
#define WTSERVE_CLIENT_LIB_STREAM_H_

#include <memory>

#include "absl/time/time.h"
#include "inference.grpc.pb.h"
#include "wtserve/client.h"

namespace wtserve::internal {

// Starts the stream at once. deadline: InfiniteDuration() for none.
std::unique_ptr<InferStream> StartInferStream(inference::GRPCInferenceService::Stub* stub, absl::Duration deadline,
                                              bool wait_for_ready);

}  // namespace wtserve::internal

#endif  // WTSERVE_CLIENT_LIB_STREAM_H_
