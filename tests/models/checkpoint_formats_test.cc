// Checkpoints as users have them, written by Debian's python3-torch in the fixture
// checkpoint_formats_files (tests/models/write_checkpoint_formats.py) from the shipped
// convnext_fmnist weights: each must load into the same network with the same values, or be
// refused with a message that says what is there and what to do.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"
#include "server/runtime/model_config.h"
#include "server/runtime/model_loader.h"

namespace wtserve::nn {
namespace {
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Dir() {
  const char* dir = std::getenv("WTSERVE_CHECKPOINT_FORMATS");
  return dir == nullptr ? "" : dir;
}
std::string SourceDir() {
  const char* dir = std::getenv("WTSERVE_SOURCE_DIR");
  return dir == nullptr ? "." : dir;
}

std::shared_ptr<ClassifierImpl> Network() { return CreateClassifier("convnext_fmnist", {10, 1, 1.0}); }

// The shipped weights, loaded from the shipped file.
const StateDict& Reference() {
  static const StateDict* reference = [] {
    auto net = Network();
    LoadStateDict(*net, SourceDir() + "/models/convnext_fmnist/1/model.pt");
    return new StateDict(ModuleStateDict(*net));
  }();
  return *reference;
}

// Loads `file` into a fresh network; returns the largest |difference| to `offset` + the shipped
// weights.
double MaxDifference(const std::string& file, const CheckpointOptions& options = {}, double offset = 0) {
  auto net = Network();
  LoadStateDict(*net, Dir() + "/" + file, options);
  const StateDict loaded = ModuleStateDict(*net);
  double worst = 0;
  for (size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].first, Reference()[i].first);
    worst = std::max(worst, (loaded[i].second - (Reference()[i].second + offset)).abs().max().item<double>());
  }
  return worst;
}

std::string LoadError(const std::string& file, const CheckpointOptions& options = {}) {
  auto net = Network();
  try {
    LoadStateDict(*net, Dir() + "/" + file, options);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

class CheckpointFormatsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(Dir().empty()) << "WTSERVE_CHECKPOINT_FORMATS is not set (run through ctest)"; }
};

TEST_F(CheckpointFormatsTest, FlatAndWrappedStateDictsLoadTheSameWeights) {
  EXPECT_EQ(MaxDifference("flat.pth"), 0.0);
  // Beside the weights: epoch, an optimizer state, argparse.Namespace args, a numpy scalar.
  EXPECT_EQ(MaxDifference("state_dict.pth"), 0.0);
  EXPECT_EQ(MaxDifference("model.pth"), 0.0);
  EXPECT_EQ(MaxDifference("module_prefix.pth"), 0.0);
  EXPECT_EQ(MaxDifference("wrapped_module.pth"), 0.0);
}

TEST_F(CheckpointFormatsTest, SeveralStateDictsNeedAnExplicitEntry) {
  EXPECT_THAT(LoadError("ema_and_plain.pth"), AllOf(HasSubstr("several state dicts (state_dict_ema, state_dict)"),
                                                    HasSubstr("architecture.checkpoint_entry")));
  CheckpointOptions ema;
  ema.entry = "state_dict_ema";
  EXPECT_EQ(MaxDifference("ema_and_plain.pth", ema), 0.0);
  CheckpointOptions plain;
  plain.entry = "state_dict";
  EXPECT_EQ(MaxDifference("ema_and_plain.pth", plain, /*offset=*/1.0), 0.0);
  CheckpointOptions bogus;
  bogus.entry = "weights";
  EXPECT_THAT(LoadError("ema_and_plain.pth", bogus),
              AllOf(HasSubstr("no top-level entry 'weights'"), HasSubstr("state_dict_ema (dict of 43 entries")));
  CheckpointOptions not_weights;
  not_weights.entry = "epoch";
  EXPECT_THAT(LoadError("state_dict.pth", not_weights), HasSubstr("entry 'epoch' is a int"));
}

TEST_F(CheckpointFormatsTest, RefusalsSayWhatIsThereAndWhatToDo) {
  EXPECT_THAT(LoadError("legacy.pth"),
              AllOf(HasSubstr("legacy torch.save format"), HasSubstr("torch.save(torch.load('IN.pth'")));
  EXPECT_THAT(LoadError("no_weights.pth"), AllOf(HasSubstr("is neither a state dict"), HasSubstr("epoch (int)"),
                                                 HasSubstr("args ('argparse.Namespace' object (not constructed))")));
}

// fast_wtconv's two layouts of a WTConv layer (no filter keys, other names; the Metal one with its
// bias added after the scale) load into WTConv2d as the same function.
TEST_F(CheckpointFormatsTest, FastWtconvLayoutsLoadAsTheSameLayers) {
  auto shipped = CreateClassifier("wtconvnext_fmnist", {10, 1, 1.0});
  LoadStateDict(*shipped, SourceDir() + "/models/wtconvnext_fmnist/1/model.pt");
  const StateDict want = ModuleStateDict(*shipped);
  shipped->eval();
  torch::manual_seed(3);
  const at::Tensor x = torch::randn({4, 1, 28, 28});
  torch::NoGradGuard no_grad;
  const at::Tensor logits = shipped->forward(x);
  for (const char* file : {"fast_wtconv_cuda.pth", "fast_wtconv_metal.pth"}) {
    auto net = CreateClassifier("wtconvnext_fmnist", {10, 1, 1.0});
    LoadStateDict(*net, Dir() + "/" + file);
    const StateDict got = ModuleStateDict(*net);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      // The Metal bias went through scale * bias / scale: equal to rounding.
      EXPECT_TRUE(got[i].second.allclose(want[i].second, 1e-6, 1e-7)) << file << " " << got[i].first;
    }
    net->eval();
    EXPECT_TRUE(net->forward(x).allclose(logits, 1e-5, 1e-6)) << file;
  }
}

// The config field reaches the loader: a model folder whose config names the EMA entry.
TEST_F(CheckpointFormatsTest, ConfigCheckpointEntryPicksTheWeights) {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("wtserve_ckpt_entry_" + std::to_string(::getpid())) / "cnx";
  std::filesystem::create_directories(folder / "1");
  std::filesystem::copy_file(Dir() + "/ema_and_plain.pth", folder / "1" / "model.pt",
                             std::filesystem::copy_options::overwrite_existing);
  std::ifstream shipped(SourceDir() + "/models/convnext_fmnist/config.pbtxt");
  std::string config((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
  const auto replace = [&config](const std::string& from, const std::string& to) {
    ASSERT_NE(config.find(from), std::string::npos) << from;
    config.replace(config.find(from), from.size(), to);
  };
  replace("name: \"convnext_fmnist\"", "name: \"cnx\"");
  replace("in_chans: 1", "in_chans: 1\n  checkpoint_entry: \"state_dict_ema\"");
  std::ofstream(folder / "config.pbtxt") << config;
  auto cfg = runtime::ReadModelConfig(folder.string());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto net = runtime::LoadNetworkForGradients(*cfg, folder.string(), 1);
  ASSERT_TRUE(net.ok()) << net.status();
  const StateDict loaded = ModuleStateDict(**net);
  for (size_t i = 0; i < loaded.size(); ++i)
    EXPECT_TRUE(loaded[i].second.equal(Reference()[i].second)) << loaded[i].first;
  std::filesystem::remove_all(folder.parent_path());
}

}  // namespace
}  // namespace wtserve::nn
