// The model repository: <root>/<model>/config.pbtxt + numeric version folders.
//
// Each model folder is loaded independently: a bad config, weights or labels file makes that
// model UNAVAILABLE with the error as its reason, and the others keep serving. Loading a model
// that is already served loads the new versions first, swaps them in, then drains the old ones,
// so requests never see a gap. Model names are single path components (model_config.h
// IsSafePathComponent): nothing outside <root> can be named.
#ifndef WTSERVE_SERVER_RUNTIME_MODEL_REPOSITORY_H_
#define WTSERVE_SERVER_RUNTIME_MODEL_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/served_model.h"

namespace wtserve::runtime {

// Model states as RepositoryIndex reports them (Triton's names).
inline constexpr char kStateReady[] = "READY";
inline constexpr char kStateUnavailable[] = "UNAVAILABLE";
inline constexpr char kStateLoading[] = "LOADING";
inline constexpr char kStateUnloading[] = "UNLOADING";

struct ModelIndexEntry {
  std::string name;
  std::string version;  // empty for a model with no loaded version
  std::string state;
  std::string reason;  // why it is not READY
};

// A model name as a request carries it: INVALID_ARGUMENT "<field> is empty" / "<field> is only
// whitespace" (a malformed request, as Triton answers it), OK otherwise (whether the model exists
// is Find's). `field` names it in the message ("model name", "model_name").
absl::Status CheckRequestedModelName(const std::string& name, const std::string& field = "model name");

class ModelRepository {
 public:
  // `metrics` must outlive the repository.
  ModelRepository(std::string root, metrics::ServerMetrics* metrics);
  ~ModelRepository();

  // Model folder names under the root (folders holding a config.pbtxt), sorted.
  // Errors: NOT_FOUND if the root cannot be listed.
  absl::StatusOr<std::vector<std::string>> ListModels() const;

  // Loads every model of ListModels() (one after the other, so loads do not fight over the
  // cores). Returns the number of models that failed; their reasons are in Index().
  absl::StatusOr<int> LoadAll();

  // (Re)loads one model: read config, select versions, load, warm up, swap in, drain the old
  // versions (bounded by `drain_timeout`). Blocks. On failure the model keeps serving its old
  // versions if it had any, else it is UNAVAILABLE with the error as reason.
  // `override_config` (Triton's load "config" parameter) replaces config.pbtxt for this load:
  // it is validated like the file (its name may be left empty), the weights still come from the
  // folder's version folders, and the next load without one reads the file again.
  // Errors: INVALID_ARGUMENT for a name that is not a single path component, NOT_FOUND for a
  // model folder that does not exist, and the load error otherwise.
  absl::Status Load(const std::string& name, absl::Duration drain_timeout = absl::Seconds(30),
                    std::optional<config::ModelConfig> override_config = std::nullopt);

  // Stops serving the model: new requests get NOT_FOUND/UNAVAILABLE, accepted ones finish
  // (bounded by `drain_deadline`). Errors: NOT_FOUND if the model is not loaded.
  absl::Status Unload(const std::string& name, absl::Time drain_deadline);

  // The version to serve: `version` empty -> the highest loaded version.
  // Errors: NOT_FOUND "unknown model" / "version not loaded", UNAVAILABLE when the model exists
  // but is not ready (loading, failed, unloaded), INVALID_ARGUMENT for an empty or whitespace
  // name (CheckRequestedModelName) or a non-numeric version.
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(const std::string& name, const std::string& version) const;

  // Every loaded version of `name` (all models when empty), ascending by (name, version).
  // Errors: NOT_FOUND for an unknown model, INVALID_ARGUMENT for a whitespace-only name.
  absl::StatusOr<std::vector<std::shared_ptr<ServedModel>>> Versions(const std::string& name) const;

  // True if the model folder exists or the model is known (loaded or failed).
  bool Exists(const std::string& name) const;

  // All models found on disk or known, with their state (one entry per loaded version).
  std::vector<ModelIndexEntry> Index() const;

  // True if every model known to the repository is READY (strict) / at least one (not strict),
  // and at least one model exists.
  bool Ready(bool strict) const;

  // Called (outside the lock) after every change of a model's state; the server updates its
  // health status from it.
  void SetStateListener(std::function<void()> listener);

  // Drains and stops every model (bounded by `drain_deadline`). Later loads fail.
  void ShutdownAll(absl::Time drain_deadline);

  const std::string& root() const { return root_; }

 private:
  struct Entry {
    std::string state = kStateUnavailable;
    std::string reason;
    std::map<int64_t, std::shared_ptr<ServedModel>> versions;
  };

  void SetState(const std::string& name, const std::string& state, const std::string& reason);
  void NotifyListener();

  const std::string root_;
  metrics::ServerMetrics* const metrics_;

  // Serializes loads/unloads (each can take seconds) without holding mu_ meanwhile.
  absl::Mutex load_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> models_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_MODEL_REPOSITORY_H_
