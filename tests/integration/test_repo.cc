#include "tests/integration/test_repo.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <torch/utils.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"

namespace wtserve::testing {

const std::vector<std::string>& FashionMnistLabels() {
  static const std::vector<std::string> labels = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return labels;
}

void WriteFmnistModel(const std::string& repo, const std::string& name, const std::string& config,
                      const std::vector<int64_t>& versions, uint64_t seed) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(repo) / name;
  fs::create_directories(dir);
  std::ofstream(dir / "config.pbtxt") << config;
  std::ofstream labels(dir / "labels.txt");
  for (const std::string& label : FashionMnistLabels()) labels << label << "\n";
  for (int64_t version : versions) {
    fs::create_directories(dir / std::to_string(version));
    nn::SaveStateDict(*FmnistNetwork(seed + static_cast<uint64_t>(version)),
                      (dir / std::to_string(version) / "model.pt").string());
  }
}

std::shared_ptr<nn::ClassifierImpl> FmnistNetwork(uint64_t seed_plus_version) {
  torch::manual_seed(seed_plus_version);
  nn::ClassifierOptions options;
  options.num_classes = 10;
  options.in_chans = 1;
  auto network = nn::CreateClassifier("convnext_fmnist", options);
  network->eval();
  return network;
}

std::string FmnistConfig(const std::string& name, const std::string& extra, const std::string& version_policy) {
  return "name: \"" + name + "\"\n" + R"pb(
           architecture { name: "convnext_fmnist" }
           max_batch_size: 8
           input {
             name: "images"
             data_type: TYPE_FP32
             dims: [ 1, 28, 28 ]
           }
           output {
             name: "logits"
             data_type: TYPE_FP32
             dims: [ 10 ]
           }
           input_preprocessing { mean: 0.2860 std: 0.3530 }
         )pb" +
         "version_policy { " + version_policy + " }\n" + extra;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

inference::ModelInferRequest FmnistZerosRequest(const std::string& model) {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  for (int64_t d : {1, 1, 28, 28}) in->add_shape(d);
  r.add_raw_input_contents(std::string(28 * 28 * sizeof(float), '\0'));
  return r;
}

}  // namespace wtserve::testing
