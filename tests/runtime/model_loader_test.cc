#include "server/runtime/model_loader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"
#include "server/runtime/model_config.h"
#include "server/runtime/preprocess.h"

namespace wtserve::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ModelLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wtserve_loader_" + std::to_string(::getpid())) / "m";
    fs::create_directories(dir_ / "1");
    fs::create_directories(dir_ / "3");
    fs::create_directories(dir_ / "notaversion");
    torch::manual_seed(0);
    nn::ClassifierOptions options;
    options.num_classes = 10;
    options.in_chans = 1;
    network_ = nn::CreateClassifier("convnext_fmnist", options);
    nn::SaveStateDict(*network_, (dir_ / "1" / "model.pt").string());
    std::ofstream labels(dir_ / "labels.txt");
    for (int i = 0; i < 10; ++i) labels << "class" << i << "\n";
  }
  void TearDown() override { fs::remove_all(dir_.parent_path()); }

  config::ModelConfig Config(const std::string& extra = "") {
    auto cfg = ParseModelConfigText(R"pb(
                                          name: "m"
                                          architecture { name: "convnext_fmnist" }
                                          max_batch_size: 4
                                          input {
                                            name: "x"
                                            data_type: TYPE_FP32
                                            dims: [ 1, 28, 28 ]
                                          }
                                          output {
                                            name: "y"
                                            data_type: TYPE_FP32
                                            dims: [ 10 ]
                                          })pb" +
                                        extra,
                                    "m/config.pbtxt");
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    EXPECT_TRUE(ValidateModelConfig(*cfg, "m/config.pbtxt", "m").ok());
    return *cfg;
  }

  fs::path dir_;
  std::shared_ptr<nn::ClassifierImpl> network_;
};

TEST_F(ModelLoaderTest, LoadsWeightsLabelsAndRunsLikeTheOriginal) {
  std::vector<std::string> labels;
  auto model = LoadModelForEvaluation(Config(), dir_.string(), 1, &labels);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(labels.size(), 10u);
  EXPECT_EQ(labels[3], "class3");
  EXPECT_TRUE((*model)->device().is_cpu());
  const at::Tensor images = at::randn({3, 1, 28, 28});
  auto logits = (*model)->Forward(images);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(logits->sizes(), at::IntArrayRef({3, 10}));
  network_->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::allclose(*logits, network_->forward(images), 1e-5, 1e-5));
}

TEST_F(ModelLoaderTest, ListsNumericVersionFolders) {
  auto versions = ListVersionFolders(dir_.string());
  ASSERT_TRUE(versions.ok());
  EXPECT_THAT(*versions, ::testing::ElementsAre(1, 3));
}

TEST_F(ModelLoaderTest, ErrorsNameTheFile) {
  auto missing = LoadModelForEvaluation(Config(), dir_.string(), 3, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("m/3/model.pt"));

  std::ofstream(dir_ / "3" / "model.pt") << "garbage";
  auto garbage = LoadModelForEvaluation(Config(), dir_.string(), 3, nullptr);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("m/3/model.pt"));

  config::ModelConfig unknown = Config();
  unknown.mutable_architecture()->set_name("resnet9000");
  auto arch = LoadModelForEvaluation(unknown, dir_.string(), 1, nullptr);
  ASSERT_FALSE(arch.ok());
  EXPECT_THAT(arch.status().message(), HasSubstr("architecture.name"));
  EXPECT_THAT(arch.status().message(), HasSubstr("convnext_fmnist"));  // lists registered ones

  // Weights of another shape: the checkpoint loader lists the mismatches. (Labels are checked
  // first, so the 10-line labels file goes.)
  fs::remove(dir_ / "labels.txt");
  config::ModelConfig other = Config();
  other.mutable_architecture()->set_num_classes(5);
  other.mutable_output(0)->set_dims(0, 5);
  auto shape = LoadModelForEvaluation(other, dir_.string(), 1, nullptr);
  ASSERT_FALSE(shape.ok());
  EXPECT_THAT(std::string(shape.status().message()), HasSubstr("1/model.pt"));

  std::ofstream(dir_ / "labels.txt") << "a\nb\n";
  auto labels = LoadModelForEvaluation(Config(), dir_.string(), 1, nullptr);
  ASSERT_FALSE(labels.ok());
  EXPECT_THAT(std::string(labels.status().message()), HasSubstr("labels.txt: 2 labels, but the model has 10"));
}

TEST_F(ModelLoaderTest, DevicesFromInstanceGroups) {
  auto cpu = InstanceDevices(Config("instance_group { count: 2 kind: KIND_CPU }"));
  ASSERT_TRUE(cpu.ok());
  ASSERT_EQ(cpu->size(), 2u);
  EXPECT_TRUE((*cpu)[0].is_cpu());
  auto automatic = InstanceDevices(Config());
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ((*automatic)[0].is_cuda(), CudaAvailable());
  auto gpu = InstanceDevices(Config("instance_group { kind: KIND_GPU }"));
  if (CudaAvailable()) {
    ASSERT_TRUE(gpu.ok());
    EXPECT_TRUE((*gpu)[0].is_cuda());
  } else {
    ASSERT_FALSE(gpu.ok());
    EXPECT_EQ(gpu.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(gpu.status().message(), HasSubstr("KIND_GPU"));
  }
}

TEST_F(ModelLoaderTest, Bf16AndChannelsLastOnCpu) {
  auto model = LoadModelForEvaluation(Config("optimization { precision: \"bf16\" channels_last: true }"), dir_.string(),
                                      1, nullptr);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->dtype(), at::kBFloat16);
  auto logits = (*model)->Forward(at::randn({2, 1, 28, 28}));
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(logits->scalar_type(), at::kFloat);  // logits always come back as float32
  auto fp16 = LoadModelForEvaluation(Config("optimization { precision: \"fp16\" }"), dir_.string(), 1, nullptr);
  if (!CudaAvailable()) {
    ASSERT_FALSE(fp16.ok());
    EXPECT_THAT(fp16.status().message(), HasSubstr("fp16"));
  }
}

// A LibTorch failure inside the network (here a 4x4 stem on a 2x2 image) is reported with its
// message only: c10::Error::what() would append a C++ backtrace (kilobytes) to the model's
// RepositoryIndex reason and to the log.
TEST_F(ModelLoaderTest, NetworkFailuresCarryTheMessageWithoutABacktrace) {
  auto model = LoadModelForEvaluation(Config(), dir_.string(), 1, nullptr);
  ASSERT_TRUE(model.ok()) << model.status();
  auto logits = (*model)->Forward(at::zeros({1, 1, 2, 2}));
  ASSERT_FALSE(logits.ok());
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(logits.status().message(), HasSubstr("Kernel size can't be greater"));
  EXPECT_THAT(logits.status().message(), ::testing::Not(HasSubstr("frame #")));
  EXPECT_THAT(logits.status().message(), ::testing::Not(HasSubstr("Exception raised from")));
  EXPECT_LT(logits.status().message().size(), 600u) << logits.status().message();
}

}  // namespace
}  // namespace wtserve::runtime
