// Triton's system shared memory extension: clients on the same host register POSIX shared
// memory objects (shm_open names) as named regions, then send an input's bytes or receive an
// output's bytes through a region instead of the request/response message.
//
// Tensor parameters (Triton's names): "shared_memory_region" (the registered name),
// "shared_memory_byte_size" (required), "shared_memory_offset" (bytes into the region, default 0).
// An input's bytes are the same little-endian raw form raw_input_contents carries; an output is
// written in its raw form and its raw_output_contents entry is left empty.
//
// Regions are mapped read-write at registration and unmapped when unregistered and no request
// still uses them (each request holds its mappings). Served only with --system_shared_memory:
// a client that can register a region makes the server read and write that host object, so
// it is off unless the operator turns it on (FAILED_PRECONDITION saying how).
#ifndef WTSERVE_SERVER_API_SHARED_MEMORY_H_
#define WTSERVE_SERVER_API_SHARED_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "inference.pb.h"

namespace wtserve::api {

class SystemSharedMemory {
 public:
  explicit SystemSharedMemory(bool enabled) : enabled_(enabled) {}
  ~SystemSharedMemory();

  bool enabled() const { return enabled_; }

  // Maps `byte_size` bytes at `offset` of the shared memory object `key`.
  // Errors: FAILED_PRECONDITION (disabled), INVALID_ARGUMENT (empty name or key, zero size, an
  // object that cannot be opened, a range beyond its end), ALREADY_EXISTS (name registered).
  absl::Status Register(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size);
  // `name` empty: every region. An unknown name is not an error (as Triton).
  absl::Status Unregister(const std::string& name);
  // `name` empty: every region. Errors: NOT_FOUND for an unknown name.
  absl::Status Status(const std::string& name, inference::SystemSharedMemoryStatusResponse* response) const;

  // A request's view of a region: `data` points at `size` bytes that stay mapped while `hold`
  // lives.
  struct View {
    std::shared_ptr<const void> hold;
    char* data = nullptr;
    size_t size = 0;
  };
  // The bytes a tensor's parameters name. Errors: INVALID_ARGUMENT naming the tensor (`what`) for
  // an unregistered region, a missing or bad byte size or offset, a range beyond the region.
  absl::StatusOr<View> Resolve(const google::protobuf::Map<std::string, inference::InferParameter>& parameters,
                               const std::string& what) const;

 private:
  struct Region;
  const bool enabled_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Region>> regions_ ABSL_GUARDED_BY(mu_);
};

// True when the tensor's parameters name a shared memory region.
bool UsesSharedMemory(const google::protobuf::Map<std::string, inference::InferParameter>& parameters);

// Rewrites `request` so that the shared request decoder sees ordinary raw contents: each input
// naming a region gets its bytes copied into raw_input_contents; each output naming one loses
// those parameters, and its view is returned (by output index; empty views for the others) for
// WriteSharedMemoryOutputs. Errors: INVALID_ARGUMENT (as Resolve; an input with both a region
// and contents; regions mixed with raw_input_contents for other inputs).
absl::StatusOr<std::vector<SystemSharedMemory::View>> ResolveSharedMemory(const SystemSharedMemory& memory,
                                                                          inference::ModelInferRequest* request);

// Moves every output that has a view into it, leaving its raw_output_contents entry empty.
// Errors: INVALID_ARGUMENT when an output is larger than its region's byte size.
absl::Status WriteSharedMemoryOutputs(const std::vector<SystemSharedMemory::View>& outputs,
                                      inference::ModelInferResponse* response);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_SHARED_MEMORY_H_
