// What a checkpoint holds and which registered architecture it is: the analysis behind
// `wtserve-model inspect`, `convert` and `make-folder` (docs/models.md, "From a downloaded
// checkpoint to a served model").
#ifndef WTSERVE_SERVER_TOOLS_CHECKPOINT_INSPECT_H_
#define WTSERVE_SERVER_TOOLS_CHECKPOINT_INSPECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"

namespace wtserve::tools {

// Shapes read off the weights: classes from the classifier's weight (head.fc.weight [K, D] for
// ConvNeXt, classifier.1.weight for MobileNetV2), input channels from the first convolution
// (stem.0.weight [d0, C, 4, 4], features.0.0.weight). 0 where no such key exists.
struct CheckpointShapes {
  int64_t num_classes = 0, in_chans = 0;
};
CheckpointShapes GuessShapes(const nn::StateDict& weights);

// One registered architecture built with the guessed shapes (1000 classes / 3 channels where
// unknown), compared key by key with the weights.
struct ArchitectureMatch {
  std::string architecture;
  nn::ClassifierOptions options;
  nn::StateDictMismatch mismatch;
  bool matches() const { return mismatch.ok(); }
};
// The given architectures (empty: every registered one), matching ones first (then by fewest
// differing keys).
std::vector<ArchitectureMatch> MatchArchitectures(const nn::StateDict& weights,
                                                  const std::vector<std::string>& architectures = {});

// The network of `architecture` (empty: the only registered architecture that matches, among those
// whose family the key names allow) with the
// weights loaded. FailedPrecondition naming the candidates when none or several match, or what
// differs when the named one does not.
struct LoadedNetwork {
  std::string architecture;
  nn::ClassifierOptions options;
  std::shared_ptr<nn::ClassifierImpl> network;
};
absl::StatusOr<LoadedNetwork> LoadAsArchitecture(const nn::StateDict& weights, const std::string& architecture,
                                                 const std::string& name);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_CHECKPOINT_INSPECT_H_
