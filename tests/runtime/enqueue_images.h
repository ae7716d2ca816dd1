// Test helper: one request of `images` into a ServedModel, as the front ends make them.
#ifndef WTSERVE_TESTS_RUNTIME_ENQUEUE_IMAGES_H_
#define WTSERVE_TESTS_RUNTIME_ENQUEUE_IMAGES_H_

#include <memory>
#include <utility>

#include "server/runtime/inference_request.h"
#include "server/runtime/served_model.h"

namespace wtserve::runtime {

// Queues `images` with `done` as its completion (no deadline, queue timeout or cancellation).
// A refused request is destroyed unanswered; the status says why.
inline absl::Status EnqueueImages(ServedModel& served, at::Tensor images, CompletionCallback done) {
  auto request = std::make_unique<InferenceRequest>();
  request->input = std::move(images);
  request->on_complete = std::move(done);
  return served.Enqueue(&request);
}

}  // namespace wtserve::runtime

#endif  // WTSERVE_TESTS_RUNTIME_ENQUEUE_IMAGES_H_
