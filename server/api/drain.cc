#include "server/api/drain.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/log/log.h"

namespace wtserve::api {

bool DrainAndClose(runtime::ModelRepository& repository, InferenceService& service, grpc::Server& server,
                   absl::Time deadline, absl::Duration close_grace) {
  repository.ShutdownAll(deadline);
  // New calls still reach our handlers and get UNAVAILABLE with a reason until the close below;
  // gRPC would refuse them without one.
  service.CloseStreams();
  logging::LogInfo("accepted requests answered; waiting for open calls to complete");
  const bool all_done = service.WaitForCalls(deadline);
  if (!all_done) logging::LogError("exit timeout: cancelling the calls still open");
  // An immediate close would cancel (CANCELLED, which clients do not retry) the calls gRPC has
  // accepted whose handler has not run yet, and its own health and reflection calls, which the
  // count above cannot see. A call whose message is still arriving when the close starts is
  // cancelled by gRPC either way (docs/server.md, "Lifecycle").
  const absl::Time close_by = std::min(deadline, absl::Now() + close_grace);
  server.Shutdown(absl::ToChronoTime(std::max(close_by, absl::Now())));
  return all_done;
}

}  // namespace wtserve::api
