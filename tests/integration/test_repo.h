// Builds model repositories for the integration tests at test time: registry architectures with
// random (seeded) weights saved via SaveStateDict, plus config.pbtxt and labels.txt.
#ifndef WTSERVE_TESTS_INTEGRATION_TEST_REPO_H_
#define WTSERVE_TESTS_INTEGRATION_TEST_REPO_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inference.pb.h"
#include "server/nn/models/registry.h"

namespace wtserve::testing {

// The Fashion-MNIST class names, one per class index.
const std::vector<std::string>& FashionMnistLabels();

// Writes <repo>/<name>/config.pbtxt (= `config`), labels.txt, and for each of `versions`
// <repo>/<name>/<v>/model.pt holding convnext_fmnist weights drawn with seed `seed + v`.
void WriteFmnistModel(const std::string& repo, const std::string& name, const std::string& config,
                      const std::vector<int64_t>& versions, uint64_t seed = 1);

// The network WriteFmnistModel saves as version v with `seed`: convnext_fmnist (10 classes, 1
// channel) drawn after torch::manual_seed(seed + v), in eval mode.
std::shared_ptr<nn::ClassifierImpl> FmnistNetwork(uint64_t seed_plus_version);

// The config used by most tests: FP32 [1, 28, 28] -> 10 logits, max_batch_size 8, a short
// batching delay, all versions served.
// `version_policy` is the body of the config's version_policy (default: every version served).
std::string FmnistConfig(const std::string& name, const std::string& extra = "",
                         const std::string& version_policy = "all {}");

// A request for a model written with FmnistConfig: input "images", FP32 [1, 1, 28, 28] of zeros
// in raw_input_contents.
inference::ModelInferRequest FmnistZerosRequest(const std::string& model);

// A fresh empty folder under the system temp folder.
std::string MakeTempDir(const std::string& prefix);

}  // namespace wtserve::testing

#endif  // WTSERVE_TESTS_INTEGRATION_TEST_REPO_H_
