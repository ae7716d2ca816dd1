// wtserve-train: trains a registered architecture on Fashion-MNIST or an image folder and writes
// a model-repository folder the server serves as it is (docs/models.md).
//
// Recipe: AdamW (no weight decay on biases, norms and layer scales), linear warmup then cosine
// decay per step, label-smoothed cross entropy, random crop with zero padding and horizontal
// flips. Reproducible: torch::manual_seed(seed) for the initial weights and a separate
// std::mt19937_64(seed) for shuffling and augmentation, all data preparation on the main
// thread. Results are bit-identical for the same seed, flags and --intra_op_threads.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cli/usage.h"
#include "common/system/usable_cores.h"
#include "server/nn/models/registry.h"
#include "server/process/heap.h"
#include "server/runtime/model_config.h"
#include "server/runtime/preprocess.h"
#include "server/tools/accuracy.h"
#include "server/tools/dataset_tensors.h"
#include "server/tools/model_folder.h"

ABSL_FLAG(std::string, architecture, "", "Registered architecture to train (required)");
ABSL_FLAG(std::string, data, "fashion-mnist",
          "'fashion-mnist' or the path of a training image folder (one subfolder per class)");
ABSL_FLAG(std::string, test_data, "",
          "Test image folder (required with an image-folder --data; ignored for fashion-mnist)");
ABSL_FLAG(std::string, fashion_mnist_dir, wtserve::data::kFashionMnistDir,
          "Folder with the gzipped Fashion-MNIST IDX files");
ABSL_FLAG(std::string, output, "", "Model folder to write, e.g. models/my_model (required)");
ABSL_FLAG(int64_t, version, 1, "Version folder to write the weights into");
ABSL_FLAG(int64_t, channels, 3, "Image folders: channels to train on (1 or 3)");
ABSL_FLAG(int64_t, image_size, 0, "Image folders: resize to this square size (0: the images' common size)");
ABSL_FLAG(std::string, mean, "",
          "Per-channel mean on [0,1] pixels, comma-separated (default: 0.2860 for "
          "fashion-mnist, measured on the training images otherwise)");
ABSL_FLAG(std::string, std, "", "Per-channel std, like --mean (fashion-mnist: 0.3530)");
ABSL_FLAG(double, width_mult, 1.0, "Width multiplier (MobileNetV2 family)");
ABSL_FLAG(int64_t, epochs, 10, "Training epochs");
ABSL_FLAG(int64_t, batch_size, 128, "Training batch size");
ABSL_FLAG(double, lr, 2e-3, "Peak learning rate");
ABSL_FLAG(double, min_lr, 1e-5, "Learning rate at the end of the cosine schedule");
ABSL_FLAG(double, weight_decay, 0.05, "AdamW weight decay (weights of convs and linears only)");
ABSL_FLAG(double, warmup_epochs, 0.5, "Linear warmup length in epochs (may be fractional)");
ABSL_FLAG(double, label_smoothing, 0.1, "Label smoothing of the cross entropy");
ABSL_FLAG(int64_t, pad, 2, "Random crop: zero padding in pixels on each side (0: no crop)");
ABSL_FLAG(bool, hflip, true, "Random horizontal flips");
ABSL_FLAG(uint64_t, seed, 0, "Seed of weights, shuffling and augmentation");
ABSL_FLAG(int64_t, intra_op_threads, 0, "LibTorch intra-op threads (0: all cores)");
ABSL_FLAG(int64_t, train_limit, 0, "Use only the first N training images (0: all)");
ABSL_FLAG(int64_t, test_limit, 0, "Use only the first N test images (0: all)");
ABSL_FLAG(int64_t, eval_batch_size, 500, "Batch size of the test evaluation");

namespace wtserve::tools {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

absl::StatusOr<std::vector<float>> ParseFloats(const std::string& text, const char* flag) {
  std::vector<float> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    float v;
    if (!absl::SimpleAtof(part, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": not a number: '", part, "'"));
    }
    out.push_back(v);
  }
  return out;
}

// Per-channel mean/std of uint8 [N, C, H, W] pixels on [0, 1].
void MeasureMeanStd(const at::Tensor& pixels, std::vector<float>* mean, std::vector<float>* std) {
  auto x = pixels.to(at::kDouble).div_(255.0).transpose(0, 1).reshape({pixels.size(1), -1});
  auto m = x.mean(1), s = x.std(1, /*unbiased=*/false);
  for (int64_t c = 0; c < pixels.size(1); ++c) {
    mean->push_back(static_cast<float>(m[c].item<double>()));
    std->push_back(static_cast<float>(s[c].item<double>()));
  }
}

// Random crop (zero padding `pad`) and horizontal flip of a uint8 batch [B, C, H, W].
at::Tensor Augment(const at::Tensor& batch, int64_t pad, bool hflip, std::mt19937_64& rng) {
  const int64_t h = batch.size(2), w = batch.size(3);
  at::Tensor padded = pad > 0 ? at::constant_pad_nd(batch, {pad, pad, pad, pad}, 0) : batch;
  at::Tensor out = at::empty_like(batch);
  std::uniform_int_distribution<int64_t> shift(0, 2 * pad);
  std::bernoulli_distribution flip(0.5);
  for (int64_t i = 0; i < batch.size(0); ++i) {
    const int64_t dy = pad > 0 ? shift(rng) : 0;
    const int64_t dx = pad > 0 ? shift(rng) : 0;
    at::Tensor crop = padded[i].slice(1, dy, dy + h).slice(2, dx, dx + w);
    if (hflip && flip(rng)) crop = crop.flip({2});
    out[i].copy_(crop);
  }
  return out;
}

// One step's learning rate: linear warmup to `peak`, then cosine to `floor`.
double LearningRate(int64_t step, int64_t warmup, int64_t total, double peak, double floor) {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return floor + 0.5 * (peak - floor) * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

absl::StatusOr<double> Evaluate(nn::ClassifierImpl& network, const PixelData& test,
                                const config::InputPreprocessing& pp, int64_t num_classes, int64_t batch_size) {
  network.eval();
  auto counts = CountTop1(test, pp, num_classes, batch_size,
                          [&](const at::Tensor& x) -> absl::StatusOr<at::Tensor> { return network.forward(x); });
  if (!counts.ok()) return counts.status();
  return counts->Percent();
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

absl::Status Run(const std::string& command_line) {
  const auto t_start = Clock::now();
  const std::string architecture = absl::GetFlag(FLAGS_architecture);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (architecture.empty()) return absl::InvalidArgumentError("--architecture is required");
  if (output.empty()) return absl::InvalidArgumentError("--output is required");
  const int64_t epochs = absl::GetFlag(FLAGS_epochs);
  const int64_t batch_size = absl::GetFlag(FLAGS_batch_size);
  const int64_t pad = absl::GetFlag(FLAGS_pad);
  if (epochs < 1 || batch_size < 1 || absl::GetFlag(FLAGS_eval_batch_size) < 1) {
    return absl::InvalidArgumentError("--epochs, --batch_size and --eval_batch_size must be >= 1");
  }
  if (pad < 0 || absl::GetFlag(FLAGS_lr) <= 0 || absl::GetFlag(FLAGS_min_lr) < 0 ||
      absl::GetFlag(FLAGS_weight_decay) < 0 || absl::GetFlag(FLAGS_warmup_epochs) < 0 ||
      absl::GetFlag(FLAGS_label_smoothing) < 0 || absl::GetFlag(FLAGS_label_smoothing) >= 1) {
    return absl::InvalidArgumentError(
        "need --pad >= 0, --lr > 0, --min_lr >= 0, --weight_decay >= 0, --warmup_epochs >= 0 "
        "and 0 <= --label_smoothing < 1");
  }
  int64_t threads = absl::GetFlag(FLAGS_intra_op_threads);
  if (threads < 0) return absl::InvalidArgumentError("--intra_op_threads must be >= 0");
  if (threads == 0) threads = system::UsableCores();
  torch::set_num_threads(static_cast<int>(threads));

  // Data.
  const std::string source = absl::GetFlag(FLAGS_data);
  const bool fmnist = source == "fashion-mnist";
  const int64_t channels = fmnist ? 1 : absl::GetFlag(FLAGS_channels);
  if (channels != 1 && channels != 3) return absl::InvalidArgumentError("--channels must be 1 or 3");
  if (!fmnist && absl::GetFlag(FLAGS_test_data).empty()) {
    return absl::InvalidArgumentError("--test_data is required with an image-folder --data");
  }
  auto train_set = ReadDataset(source, absl::GetFlag(FLAGS_fashion_mnist_dir), data::Split::kTrain, channels);
  if (!train_set.ok()) return train_set.status();
  auto test_set = ReadDataset(fmnist ? source : absl::GetFlag(FLAGS_test_data), absl::GetFlag(FLAGS_fashion_mnist_dir),
                              data::Split::kTest, channels);
  if (!test_set.ok()) return test_set.status();
  if (!fmnist && test_set->class_names != train_set->class_names) {
    return absl::InvalidArgumentError("training and test folders have different class folders");
  }
  int64_t height = train_set->height, width = train_set->width;
  if (absl::GetFlag(FLAGS_image_size) > 0) height = width = absl::GetFlag(FLAGS_image_size);
  if (height <= 0 || width <= 0) {
    return absl::InvalidArgumentError("training images differ in size: set --image_size");
  }
  const int64_t num_classes = static_cast<int64_t>(train_set->class_names.size());
  if (num_classes < 2) return absl::InvalidArgumentError("need at least 2 classes");

  ServingConfigSpec spec;
  spec.name = std::filesystem::path(output).lexically_normal().filename().string();
  if (spec.name.empty()) spec.name = std::filesystem::path(output).parent_path().filename().string();
  spec.architecture = architecture;
  spec.num_classes = num_classes;
  spec.channels = channels;
  spec.height = height;
  spec.width = width;
  spec.width_mult = absl::GetFlag(FLAGS_width_mult);
  config::ModelConfig cfg = DefaultServingConfig(spec);  // mean/std filled below
  auto pixels_train = DatasetToPixels(*train_set, cfg.input(0), cfg.input_preprocessing(), num_classes,
                                      absl::GetFlag(FLAGS_train_limit));
  if (!pixels_train.ok()) return pixels_train.status();
  auto pixels_test =
      DatasetToPixels(*test_set, cfg.input(0), cfg.input_preprocessing(), num_classes, absl::GetFlag(FLAGS_test_limit));
  if (!pixels_test.ok()) return pixels_test.status();

  auto mean = ParseFloats(absl::GetFlag(FLAGS_mean), "mean");
  if (!mean.ok()) return mean.status();
  auto std = ParseFloats(absl::GetFlag(FLAGS_std), "std");
  if (!std.ok()) return std.status();
  if (mean->empty() != std->empty()) return absl::InvalidArgumentError("set both --mean and --std");
  if (mean->empty()) {
    if (fmnist) {
      *mean = {0.2860f};  // docs/reference.md §3
      *std = {0.3530f};
    } else {
      MeasureMeanStd(pixels_train->pixels, &*mean, &*std);
    }
  }
  spec.mean = *mean;
  spec.std = *std;
  cfg = DefaultServingConfig(spec);
  {
    // Validate before spending the training time.
    config::ModelConfig checked = cfg;
    absl::Status valid = runtime::ValidateModelConfig(checked, output + "/config.pbtxt", spec.name);
    if (!valid.ok()) return valid;
  }
  const config::InputPreprocessing& pp = cfg.input_preprocessing();

  // Network and optimiser.
  torch::manual_seed(absl::GetFlag(FLAGS_seed));
  std::shared_ptr<nn::ClassifierImpl> network;
  try {
    nn::ClassifierOptions options;
    options.num_classes = num_classes;
    options.in_chans = channels;
    options.width_mult = spec.width_mult;
    network = nn::CreateClassifier(architecture, options);
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(e.what());
  }
  std::vector<at::Tensor> decay, no_decay;
  int64_t total_params = 0, trainable_params = 0;
  for (const auto& p : network->named_parameters()) {
    total_params += p.value().numel();
    if (!p.value().requires_grad()) continue;  // frozen wavelet filters
    trainable_params += p.value().numel();
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      decay, std::make_unique<torch::optim::AdamWOptions>(
                 torch::optim::AdamWOptions(absl::GetFlag(FLAGS_lr)).weight_decay(absl::GetFlag(FLAGS_weight_decay))));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(absl::GetFlag(FLAGS_lr)).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups));

  const int64_t n_train = pixels_train->pixels.size(0);
  const int64_t steps_per_epoch = (n_train + batch_size - 1) / batch_size;
  const int64_t total_steps = steps_per_epoch * epochs;
  const int64_t warmup_steps = static_cast<int64_t>(std::llround(absl::GetFlag(FLAGS_warmup_epochs) * steps_per_epoch));
  std::printf(
      "wtserve-train: %s, %lld parameters (%lld trainable), %lld training / %lld test "
      "images of %lldx%lldx%lld, %lld classes, %lld epochs x %lld steps, %lld threads\n",
      architecture.c_str(), static_cast<long long>(total_params), static_cast<long long>(trainable_params),
      static_cast<long long>(n_train), static_cast<long long>(pixels_test->pixels.size(0)),
      static_cast<long long>(channels), static_cast<long long>(height), static_cast<long long>(width),
      static_cast<long long>(num_classes), static_cast<long long>(epochs), static_cast<long long>(steps_per_epoch),
      static_cast<long long>(threads));
  std::fflush(stdout);

  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::vector<int64_t> order(n_train);
  std::iota(order.begin(), order.end(), 0);
  const auto loss_options =
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(absl::GetFlag(FLAGS_label_smoothing));
  const auto t_train = Clock::now();
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    const auto t_epoch = Clock::now();
    network->train();
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0;
    int64_t correct = 0;
    double lr = 0;
    double data_s = 0, forward_s = 0, backward_s = 0, update_s = 0;
    for (int64_t start = 0; start < n_train; start += batch_size, ++step) {
      const int64_t end = std::min(n_train, start + batch_size);
      auto t0 = Clock::now();
      at::Tensor index = at::from_blob(order.data() + start, {end - start}, at::kLong);
      at::Tensor batch = Augment(pixels_train->pixels.index_select(0, index), pad, absl::GetFlag(FLAGS_hflip), rng);
      at::Tensor target = pixels_train->labels.index_select(0, index);
      auto x = runtime::NormalizePixels(batch, pp);
      if (!x.ok()) return x.status();
      lr = LearningRate(step, warmup_steps, total_steps, absl::GetFlag(FLAGS_lr), absl::GetFlag(FLAGS_min_lr));
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      optimizer.zero_grad();
      data_s += Seconds(t0);
      t0 = Clock::now();
      at::Tensor logits = network->forward(*x);
      at::Tensor loss = torch::nn::functional::cross_entropy(logits, target, loss_options);
      forward_s += Seconds(t0);
      t0 = Clock::now();
      loss.backward();
      backward_s += Seconds(t0);
      t0 = Clock::now();
      optimizer.step();
      update_s += Seconds(t0);
      loss_sum += loss.item<double>() * static_cast<double>(end - start);
      correct += logits.argmax(1).eq(target).sum().item<int64_t>();
    }
    const double epoch_s = Seconds(t_epoch);
    const double elapsed = Seconds(t_train);
    const double eta = elapsed / static_cast<double>(epoch + 1) * static_cast<double>(epochs - epoch - 1);
    std::printf(
        "epoch %lld/%lld  loss %.4f  train_acc %.2f%%  lr %.2e  %.0f img/s  epoch %.0fs  "
        "elapsed %.0fs  eta %.0fs  (data %.0fs, forward %.0fs, backward %.0fs, update %.0fs)\n",
        static_cast<long long>(epoch + 1), static_cast<long long>(epochs), loss_sum / static_cast<double>(n_train),
        100.0 * static_cast<double>(correct) / static_cast<double>(n_train), lr, static_cast<double>(n_train) / epoch_s,
        epoch_s, elapsed, eta, data_s, forward_s, backward_s, update_s);
    std::fflush(stdout);
  }
  const double train_s = Seconds(t_train);

  auto accuracy = Evaluate(*network, *pixels_test, pp, num_classes, absl::GetFlag(FLAGS_eval_batch_size));
  if (!accuracy.ok()) return accuracy.status();
  std::printf("test accuracy %.2f%% on %lld images\n", *accuracy, static_cast<long long>(pixels_test->pixels.size(0)));

  absl::Status written = WriteModelFolder(output, cfg, absl::GetFlag(FLAGS_version), *network, train_set->class_names);
  if (!written.ok()) return written;
  const double wall_s = Seconds(t_start);
  // Machine-readable summary next to the model card (tests/models checks it).
  const std::string summary_path = (std::filesystem::path(output) / "training.json").string();
  std::ofstream summary(summary_path, std::ios::trunc);
  summary << absl::StrFormat(
      "{\n  \"architecture\": \"%s\",\n  \"parameters\": %d,\n  \"trainable_parameters\": %d,\n"
      "  \"train_images\": %d,\n  \"test_images\": %d,\n  \"epochs\": %d,\n  \"seed\": %d,\n"
      "  \"intra_op_threads\": %d,\n  \"train_seconds\": %.1f,\n  \"wall_seconds\": %.1f,\n"
      "  \"test_accuracy\": %.2f,\n  \"command\": \"%s\"\n}\n",
      architecture, total_params, trainable_params, n_train, pixels_test->pixels.size(0), epochs,
      absl::GetFlag(FLAGS_seed), threads, train_s, wall_s, *accuracy, JsonEscape(command_line));
  if (!summary.flush()) return absl::InternalError(absl::StrCat("cannot write ", summary_path));
  std::printf("wrote %s (training %.0fs, total %.0fs)\n", output.c_str(), train_s, wall_s);
  return absl::OkStatus();
}

}  // namespace
}  // namespace wtserve::tools

int main(int argc, char** argv) {
  // Training and evaluation reuse same-sized activation buffers on every step.
  if (const std::string refused = wtserve::process::RetainFreedTensorMemory(); !refused.empty()) {
    std::fprintf(stderr, "wtserve-train: warning: %s\n", refused.c_str());
  }
  wtserve::cli::SetUsage(__FILE__,
                         "Trains a registered architecture and writes a served model folder.\n"
                         "  wtserve-train --architecture=wtconvnext_fmnist --output=models/wtconvnext_fmnist");
  std::vector<std::string> args(argv, argv + argc);
  absl::ParseCommandLine(argc, argv);
  try {
    absl::Status status = wtserve::tools::Run(absl::StrJoin(args, " "));
    if (!status.ok()) {
      std::fprintf(stderr, "wtserve-train: %s\n", status.ToString().c_str());
      return 1;
    }
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "wtserve-train: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wtserve-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
