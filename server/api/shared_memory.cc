#include "server/api/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wtserve::api {
namespace {

using inference::InferParameter;
using Parameters = google::protobuf::Map<std::string, InferParameter>;

constexpr char kRegion[] = "shared_memory_region";
constexpr char kByteSize[] = "shared_memory_byte_size";
constexpr char kOffset[] = "shared_memory_offset";

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// A non-negative integer parameter (int64 or uint64 on the wire); nullopt when absent.
absl::StatusOr<std::optional<uint64_t>> SizeParameter(const Parameters& parameters, const char* key,
                                                      const std::string& what) {
  const auto it = parameters.find(key);
  if (it == parameters.end()) return std::optional<uint64_t>();
  const InferParameter& p = it->second;
  if (p.parameter_choice_case() == InferParameter::kInt64Param && p.int64_param() >= 0) {
    return std::optional<uint64_t>(static_cast<uint64_t>(p.int64_param()));
  }
  if (p.parameter_choice_case() == InferParameter::kUint64Param) return std::optional<uint64_t>(p.uint64_param());
  return Invalid(absl::StrCat(what, ": parameter '", key, "' must be an integer >= 0"));
}

void EraseSharedMemoryParameters(Parameters* parameters) {
  for (const char* key : {kRegion, kByteSize, kOffset}) parameters->erase(key);
}

}  // namespace

struct SystemSharedMemory::Region {
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
  void* mapping = nullptr;
  size_t mapping_length = 0;
  char* data = nullptr;  // the region's first byte inside the mapping

  ~Region() {
    if (mapping != nullptr) ::munmap(mapping, mapping_length);
  }
};

SystemSharedMemory::~SystemSharedMemory() = default;

absl::Status SystemSharedMemory::Register(const std::string& name, const std::string& key, uint64_t offset,
                                          uint64_t byte_size) {
  if (!enabled_) {
    return absl::FailedPreconditionError(
        "system shared memory is off: start wtserve with --system_shared_memory to let clients on this "
        "host register regions");
  }
  if (name.empty()) return Invalid("a shared memory region needs a name");
  if (key.empty()) return Invalid(absl::StrCat("shared memory region '", name, "': the key is empty"));
  if (byte_size == 0) return Invalid(absl::StrCat("shared memory region '", name, "': byte_size is 0"));
  absl::MutexLock lock(&mu_);
  if (regions_.count(name) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("shared memory region '", name, "' is already registered; unregister it first"));
  }
  const int fd = ::shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0) {
    return Invalid(absl::StrCat("shared memory region '", name, "': cannot open the shared memory object '", key,
                                "': ", std::strerror(errno)));
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const uint64_t object_size = stat_ok ? static_cast<uint64_t>(st.st_size) : 0;
  if (!stat_ok || offset > object_size || byte_size > object_size - offset) {
    ::close(fd);
    return Invalid(absl::StrCat("shared memory region '", name, "': offset ", offset, " + byte_size ", byte_size,
                                " is beyond the end of '", key, "' (", object_size, " bytes)"));
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  auto region = std::make_shared<Region>();
  region->key = key;
  region->offset = offset;
  region->byte_size = byte_size;
  region->mapping_length = static_cast<size_t>(byte_size + (offset - aligned));
  void* mapping =
      ::mmap(nullptr, region->mapping_length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(aligned));
  const int mmap_errno = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) {
    return Invalid(
        absl::StrCat("shared memory region '", name, "': cannot map '", key, "': ", std::strerror(mmap_errno)));
  }
  region->mapping = mapping;
  region->data = static_cast<char*>(mapping) + (offset - aligned);
  regions_.emplace(name, std::move(region));
  return absl::OkStatus();
}

absl::Status SystemSharedMemory::Unregister(const std::string& name) {
  absl::MutexLock lock(&mu_);
  // A request still using a region holds it; the mapping goes with the last holder.
  if (name.empty()) {
    regions_.clear();
  } else {
    regions_.erase(name);
  }
  return absl::OkStatus();
}

absl::Status SystemSharedMemory::Status(const std::string& name,
                                        inference::SystemSharedMemoryStatusResponse* response) const {
  absl::MutexLock lock(&mu_);
  bool found = false;
  for (const auto& [region_name, region] : regions_) {
    if (!name.empty() && region_name != name) continue;
    found = true;
    auto& status = (*response->mutable_regions())[region_name];
    status.set_name(region_name);
    status.set_key(region->key);
    status.set_offset(region->offset);
    status.set_byte_size(region->byte_size);
  }
  if (!name.empty() && !found) {
    return absl::NotFoundError(absl::StrCat("shared memory region '", name, "' is not registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SystemSharedMemory::View> SystemSharedMemory::Resolve(const Parameters& parameters,
                                                                     const std::string& what) const {
  const auto it = parameters.find(kRegion);
  if (it == parameters.end() || it->second.parameter_choice_case() != InferParameter::kStringParam) {
    return Invalid(absl::StrCat(what, ": parameter '", kRegion, "' must be a region name"));
  }
  const std::string& name = it->second.string_param();
  absl::StatusOr<std::optional<uint64_t>> size = SizeParameter(parameters, kByteSize, what);
  if (!size.ok()) return size.status();
  if (!size->has_value()) {
    return Invalid(absl::StrCat(what, ": shared memory region '", name, "' needs parameter '", kByteSize, "'"));
  }
  absl::StatusOr<std::optional<uint64_t>> offset = SizeParameter(parameters, kOffset, what);
  if (!offset.ok()) return offset.status();
  const uint64_t start = offset->value_or(0);
  absl::MutexLock lock(&mu_);
  const auto found = regions_.find(name);
  if (found == regions_.end()) {
    return Invalid(absl::StrCat(what, " uses shared memory region '", name, "', which is not registered",
                                enabled_ ? " (SystemSharedMemoryRegister)"
                                         : ": system shared memory is off (--system_shared_memory); send the "
                                           "tensor inline"));
  }
  const Region& region = *found->second;
  if (start > region.byte_size || **size > region.byte_size - start) {
    return Invalid(absl::StrCat(what, ": offset ", start, " + byte size ", **size, " is beyond shared memory region '",
                                name, "' (", region.byte_size, " bytes)"));
  }
  View view;
  view.hold = found->second;
  view.data = region.data + start;
  view.size = static_cast<size_t>(**size);
  return view;
}

bool UsesSharedMemory(const Parameters& parameters) { return parameters.count(kRegion) > 0; }

absl::StatusOr<std::vector<SystemSharedMemory::View>> ResolveSharedMemory(const SystemSharedMemory& memory,
                                                                          inference::ModelInferRequest* request) {
  std::vector<SystemSharedMemory::View> outputs(static_cast<size_t>(request->outputs_size()));
  for (int i = 0; i < request->inputs_size(); ++i) {
    auto* input = request->mutable_inputs(i);
    if (!UsesSharedMemory(input->parameters())) continue;
    const std::string what = absl::StrCat("input '", input->name(), "'");
    if (input->has_contents()) {
      return Invalid(absl::StrCat(what, " sets both a shared memory region and contents; use one"));
    }
    if (request->raw_input_contents_size() == 0) {
      for (int k = 0; k < request->inputs_size(); ++k) request->add_raw_input_contents();
    } else if (request->raw_input_contents_size() != request->inputs_size() ||
               !request->raw_input_contents(i).empty()) {
      return Invalid(absl::StrCat(what,
                                  " uses a shared memory region while raw_input_contents carries "
                                  "data for it or does not match the inputs"));
    }
    absl::StatusOr<SystemSharedMemory::View> view = memory.Resolve(input->parameters(), what);
    if (!view.ok()) return view.status();
    request->mutable_raw_input_contents(i)->assign(view->data, view->size);
    EraseSharedMemoryParameters(input->mutable_parameters());
  }
  for (int j = 0; j < request->outputs_size(); ++j) {
    auto* output = request->mutable_outputs(j);
    if (!UsesSharedMemory(output->parameters())) continue;
    absl::StatusOr<SystemSharedMemory::View> view =
        memory.Resolve(output->parameters(), absl::StrCat("output '", output->name(), "'"));
    if (!view.ok()) return view.status();
    outputs[static_cast<size_t>(j)] = *std::move(view);
    EraseSharedMemoryParameters(output->mutable_parameters());
  }
  return outputs;
}

absl::Status WriteSharedMemoryOutputs(const std::vector<SystemSharedMemory::View>& outputs,
                                      inference::ModelInferResponse* response) {
  for (size_t j = 0; j < outputs.size() && static_cast<int>(j) < response->raw_output_contents_size(); ++j) {
    const SystemSharedMemory::View& view = outputs[j];
    if (view.data == nullptr) continue;
    std::string* raw = response->mutable_raw_output_contents(static_cast<int>(j));
    if (raw->size() > view.size) {
      return Invalid(absl::StrCat("output '", response->outputs(static_cast<int>(j)).name(), "' needs ", raw->size(),
                                  " bytes; its shared memory byte size is ", view.size));
    }
    std::memcpy(view.data, raw->data(), raw->size());
    auto* parameters = response->mutable_outputs(static_cast<int>(j))->mutable_parameters();
    (*parameters)[kByteSize].set_int64_param(static_cast<int64_t>(raw->size()));
    raw->clear();
  }
  return absl::OkStatus();
}

}  // namespace wtserve::api
