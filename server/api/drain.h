// The last steps of a shutdown, in the order that loses no accepted request and answers every
// call with a status a client can act on. The caller has already called
// ServerState::BeginShutdown (NOT_SERVING; new inference requests get UNAVAILABLE).
#ifndef WTSERVE_SERVER_API_DRAIN_H_
#define WTSERVE_SERVER_API_DRAIN_H_

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "server/api/inference_service.h"
#include "server/runtime/model_repository.h"

namespace wtserve::api {

// How long the gRPC server keeps the calls it already holds when it closes (bounded by the
// exit deadline). Such calls are answered in milliseconds; the bound only matters for calls
// that never end by themselves, such as a grpc.health.v1 Watch, which are then cancelled.
inline constexpr absl::Duration kDefaultCloseGrace = absl::Seconds(1);

// 1. Drains every model's batcher: accepted requests run and are answered (UNAVAILABLE once
//    `deadline` has passed). 2. Ends open ModelStreamInfer streams once their requests are
//    answered (UNAVAILABLE). 3. Waits for the calls the service counts to complete. 4. Closes
//    the gRPC server gracefully, so that calls gRPC holds but no handler has seen yet (a call
//    that arrived a moment ago, a health check) still complete, for at most `close_grace`.
// Returns false if `deadline` passed with calls still open (they were cancelled).
bool DrainAndClose(runtime::ModelRepository& repository, InferenceService& service, grpc::Server& server,
                   absl::Time deadline, absl::Duration close_grace = kDefaultCloseGrace);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_DRAIN_H_
