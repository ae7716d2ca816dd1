// Cross-check against the Python reference (tests/reference/models_ref.py): its OrderedDict
// checkpoints load into the C++ networks with the same keys and reproduce its logits; our own
// checkpoints load back into the Python networks; TorchScript classifiers load and run.
// The fixture `models_reference_cases` writes the cases into $WTSERVE_MODELS_REFERENCE_CASES.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"
#include "server/nn/models/torchscript.h"

namespace wtserve::nn {
namespace {

std::string CasesDir() {
  const char* dir = std::getenv("WTSERVE_MODELS_REFERENCE_CASES");
  return dir ? dir : "";
}

torch::Tensor Field(const StateDict& io, const std::string& key) {
  for (const auto& [k, t] : io) {
    if (k == key) return t;
  }
  ADD_FAILURE() << "no '" << key << "' in the case file";
  return {};
}

// max |a - b| / max |b|: relative to the logits' scale (element-wise ratios blow up near 0).
double MaxRelativeDiff(const torch::Tensor& got, const torch::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max()).item<double>();
}

struct Case {
  std::string name, architecture;
  int64_t num_classes, in_chans;
  double width_mult;
};

class ReferenceTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(CasesDir().empty()) << "WTSERVE_MODELS_REFERENCE_CASES is not set";
    torch::set_num_threads(2);
  }
};

TEST_P(ReferenceTest, LoadsPythonStateDictAndReproducesLogits) {
  const Case& c = GetParam();
  ClassifierOptions options;
  options.num_classes = c.num_classes;
  options.in_chans = c.in_chans;
  options.width_mult = c.width_mult;
  auto net = CreateClassifier(c.architecture, options);
  const std::string weights = CasesDir() + "/" + c.name + ".pth";
  // Same keys, same order, same shapes as the Python state_dict().
  const StateDict file = ReadStateDict(weights);
  const StateDict mine = ModuleStateDict(*net);
  ASSERT_EQ(file.size(), mine.size());
  for (size_t i = 0; i < file.size(); ++i) {
    ASSERT_EQ(file[i].first, mine[i].first) << "key " << i;
    ASSERT_EQ(file[i].second.sizes(), mine[i].second.sizes()) << file[i].first;
  }
  if (c.architecture == "wtconvnext_tiny") {
    EXPECT_EQ(file.size(), 356u);
  }
  LoadStateDict(*net, weights);
  net->eval();
  const StateDict io = ReadStateDict(CasesDir() + "/" + c.name + ".io.pt");
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = net->forward(Field(io, "input"));
  const double diff = MaxRelativeDiff(logits, Field(io, "logits"));
  std::printf("%s: %zu keys, max relative logit difference %.2e\n", c.name.c_str(), file.size(), diff);
  EXPECT_LE(diff, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ReferenceTest,
                         ::testing::Values(Case{"wtconvnext_tiny_224", "wtconvnext_tiny", 1000, 3, 1.0},
                                           Case{"convnext_tiny_64", "convnext_tiny", 1000, 3, 1.0},
                                           Case{"wtconvnext_fmnist", "wtconvnext_fmnist", 10, 1, 1.0},
                                           Case{"convnext_fmnist", "convnext_fmnist", 10, 1, 1.0},
                                           Case{"mobilenetv2_w05_64", "mobilenetv2", 10, 3, 0.5},
                                           Case{"wtmobilenetv2_w05_64", "wtmobilenetv2", 10, 3, 0.5}),
                         [](const auto& info) { return info.param.name; });

// Our checkpoint, read by Python's torch.load into the Python network (strict), reproduces our
// logits.
TEST(SaveForPythonTest, PythonLoadsOurCheckpoint) {
  const char* python = std::getenv("WTSERVE_PYTHON");
  const char* source = std::getenv("WTSERVE_SOURCE_DIR");
  ASSERT_TRUE(python && source) << "WTSERVE_PYTHON / WTSERVE_SOURCE_DIR not set";
  torch::manual_seed(7);
  ClassifierOptions options;
  options.num_classes = 10;
  options.in_chans = 1;
  auto net = CreateClassifier("wtconvnext_fmnist", options);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) {
      if (p.requires_grad()) p.add_(0.05 * torch::randn_like(p));
    }
  }
  net->eval();
  const auto dir = std::filesystem::temp_directory_path() / ("wtserve_save_for_python_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string weights = (dir / "model.pt").string();
  SaveStateDict(*net, weights);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({3, 1, 28, 28});
  c10::Dict<std::string, torch::Tensor> io;
  io.insert("input", x);
  io.insert("logits", net->forward(x));
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(io));
  const std::string io_path = (dir / "io.pt").string();
  {
    std::FILE* f = std::fopen(io_path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  const std::string command = std::string(python) + " " + source +
                              "/tests/reference/models_ref.py check --arch wtconvnext_fmnist "
                              "--num-classes 10 --in-chans 1 --weights " +
                              weights + " --io " + io_path;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::filesystem::remove_all(dir);
}

TEST(TorchScriptTest, LoadsScriptedClassifier) {
  ASSERT_FALSE(CasesDir().empty());
  auto net = LoadTorchScriptClassifier(CasesDir() + "/scripted.pt");
  const StateDict io = ReadStateDict(CasesDir() + "/scripted.io.pt");
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = net->forward(Field(io, "input"));
  EXPECT_LE(MaxRelativeDiff(logits, Field(io, "logits")), 1e-5);
  EXPECT_THROW(LoadTorchScriptClassifier(CasesDir() + "/convnext_fmnist.pth"), std::runtime_error);
  EXPECT_THROW(LoadTorchScriptClassifier("/nonexistent.pt"), std::runtime_error);
}

}  // namespace
}  // namespace wtserve::nn
