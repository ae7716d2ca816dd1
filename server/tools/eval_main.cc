// wtserve-eval: accuracy of a model-repository folder on Fashion-MNIST's test split or an image
// folder, without a server. It runs the server's own code path (runtime::ReadModelConfig,
// LoadModelForEvaluation, ImageToPixels/NormalizePixels, LoadedModel::Forward), so its numbers
// are what the served model computes for the same batches.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli/usage.h"
#include "common/system/usable_cores.h"
#include "server/process/heap.h"
#include "server/process/threads.h"
#include "server/runtime/model_config.h"
#include "server/runtime/model_loader.h"
#include "server/runtime/preprocess.h"
#include "server/tools/accuracy.h"
#include "server/tools/dataset_tensors.h"
#include "server/tools/erf.h"

ABSL_FLAG(std::string, model_dir, "", "Model folder (<repository>/<model>) to evaluate (required)");
ABSL_FLAG(int64_t, version, 0, "Version folder to evaluate (0: the highest one)");
ABSL_FLAG(std::string, data, "fashion-mnist",
          "'fashion-mnist' (its test split) or an image folder (one subfolder per class)");
ABSL_FLAG(std::string, fashion_mnist_dir, wtserve::data::kFashionMnistDir,
          "Folder with the gzipped Fashion-MNIST IDX files");
ABSL_FLAG(int64_t, batch_size, 64, "Images per forward pass");
ABSL_FLAG(int64_t, limit, 0, "Evaluate only the first N images (0: all)");
ABSL_FLAG(int64_t, intra_op_threads, 0, "LibTorch intra-op threads (0: all cores)");
ABSL_FLAG(std::string, output_json, "", "Also write the result as JSON to this file");
ABSL_FLAG(std::string, compare_precision, "",
          "Also run the model at this optimization.precision (bf16; fp16 needs a GPU instance) on the same "
          "images and report its top-1 agreement with the config's precision and the largest logit "
          "difference (docs/models.md)");
ABSL_FLAG(std::string, erf_output, "",
          "Also compute the effective receptive field over the first --erf_images images and write "
          "it as JSON to this file (docs/models.md)");
ABSL_FLAG(int64_t, erf_images, 500, "Inputs averaged into the effective receptive field");
ABSL_FLAG(int64_t, erf_tiles, 1,
          "Effective receptive field on mosaics of T x T test images (1: the images themselves), so "
          "that the input border does not cut it off");

namespace wtserve::tools {
namespace {

absl::Status WriteErfJson(const std::string& path, const std::string& model, int64_t version, int64_t tiles,
                          const EffectiveReceptiveField& erf) {
  std::vector<std::string> rows, squares;
  for (int64_t y = 0; y < erf.height; ++y) {
    std::vector<std::string> row;
    for (int64_t x = 0; x < erf.width; ++x) {
      row.push_back(absl::StrFormat("%.6g", erf.contribution[static_cast<size_t>(y * erf.width + x)]));
    }
    rows.push_back(absl::StrCat("[", absl::StrJoin(row, ", "), "]"));
  }
  for (size_t i = 0; i < erf.squares.size(); ++i) {
    const CentredSquare& sq = erf.squares[i];
    squares.push_back(
        absl::StrFormat("{\"mass_fraction\": %g, \"side\": %d, \"area_fraction\": %.6g, \"pixel_fraction\": %.6g}",
                        sq.mass_fraction, sq.side, sq.area_fraction, erf.pixel_fractions[i]));
  }
  std::ofstream out(path, std::ios::trunc);
  out << absl::StrFormat(
      "{\n  \"model\": \"%s\",\n  \"version\": %d,\n  \"tiles\": %d,\n  \"images\": %d,\n  \"height\": %d,\n  "
      "\"width\": %d,\n"
      "  \"feature_height\": %d,\n  \"feature_width\": %d,\n"
      "  \"method\": \"mean over images of sum_c relu(d s / d x_c), s = sum_k relu(F_k at the centre of the last "
      "feature map)\",\n  \"centred_squares\": [%s],\n  \"contribution\": [\n    %s\n  ]\n}\n",
      model, version, tiles, erf.images, erf.height, erf.width, erf.feature_height, erf.feature_width,
      absl::StrJoin(squares, ", "), absl::StrJoin(rows, ",\n    "));
  if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  const int64_t batch_size = absl::GetFlag(FLAGS_batch_size);
  if (batch_size < 1) return absl::InvalidArgumentError("--batch_size must be >= 1");
  if (absl::GetFlag(FLAGS_limit) < 0) return absl::InvalidArgumentError("--limit must be >= 0");
  if (absl::GetFlag(FLAGS_erf_images) < 1) return absl::InvalidArgumentError("--erf_images must be >= 1");
  if (absl::GetFlag(FLAGS_erf_tiles) < 1) return absl::InvalidArgumentError("--erf_tiles must be >= 1");
  int64_t threads = absl::GetFlag(FLAGS_intra_op_threads);
  if (threads < 0) return absl::InvalidArgumentError("--intra_op_threads must be >= 0");
  if (threads == 0) threads = system::UsableCores();
  at::set_num_threads(static_cast<int>(threads));
  // OpenBLAS (Linear layers) has its own pool that at::set_num_threads does not reach.
  std::fprintf(stderr, "%s\n", process::SetBlasThreads(static_cast<int>(threads)).c_str());

  auto cfg = runtime::ReadModelConfig(model_dir);
  if (!cfg.ok()) return cfg.status();
  // The second precision is checked before any image is evaluated.
  const std::string other_precision = absl::GetFlag(FLAGS_compare_precision);
  config::ModelConfig other_cfg = *cfg;
  if (!other_precision.empty()) {
    other_cfg.mutable_optimization()->set_precision(other_precision);
    if (absl::Status s = runtime::ValidateModelConfig(other_cfg, "--compare_precision"); !s.ok()) return s;
  }
  int64_t version = absl::GetFlag(FLAGS_version);
  if (version == 0) {
    auto versions = runtime::ListVersionFolders(model_dir);
    if (!versions.ok()) return versions.status();
    if (versions->empty()) {
      return absl::NotFoundError(absl::StrCat(model_dir, ": no numeric version folder"));
    }
    version = versions->back();
  }
  std::vector<std::string> labels;
  auto model = runtime::LoadModelForEvaluation(*cfg, model_dir, version, &labels);
  if (!model.ok()) return model.status();

  const config::ModelInput& input = cfg->input(0);
  const int64_t num_classes =
      cfg->architecture().num_classes() > 0 ? cfg->architecture().num_classes() : cfg->output(0).dims(0);
  const std::string source = absl::GetFlag(FLAGS_data);
  auto dataset = ReadDataset(source, absl::GetFlag(FLAGS_fashion_mnist_dir), data::Split::kTest, input.dims(0));
  if (!dataset.ok()) return dataset.status();
  auto pixels = DatasetToPixels(*dataset, input, cfg->input_preprocessing(), num_classes, absl::GetFlag(FLAGS_limit));
  if (!pixels.ok()) return pixels.status();

  const auto start = std::chrono::steady_clock::now();
  const int64_t n = pixels->pixels.size(0);
  auto counts = CountTop1(*pixels, cfg->input_preprocessing(), num_classes, batch_size,
                          [&](const at::Tensor& x) { return (*model)->Forward(x); });
  if (!counts.ok()) return counts.status();
  const int64_t correct = counts->correct;
  const std::vector<int64_t>&per_class_total = counts->class_total, &per_class_correct = counts->class_correct;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(n);
  std::printf("%s version %lld: accuracy %.2f%% (%lld/%lld) on %s, %.0f images/s\n", cfg->name().c_str(),
              static_cast<long long>(version), accuracy, static_cast<long long>(correct), static_cast<long long>(n),
              source.c_str(), static_cast<double>(n) / seconds);
  for (int64_t c = 0; c < num_classes; ++c) {
    if (per_class_total[c] == 0) continue;
    const std::string name = c < static_cast<int64_t>(labels.size()) ? labels[c] : std::to_string(c);
    std::printf("  %-14s %6.2f%%\n", name.c_str(),
                100.0 * static_cast<double>(per_class_correct[c]) / per_class_total[c]);
  }
  std::string comparison_json;
  if (!other_precision.empty()) {
    auto other = runtime::LoadModelForEvaluation(other_cfg, model_dir, version, nullptr);
    if (!other.ok()) return other.status();
    auto agreement = ComparePredictions(
        *pixels, cfg->input_preprocessing(), batch_size, [&](const at::Tensor& x) { return (*model)->Forward(x); },
        [&](const at::Tensor& x) { return (*other)->Forward(x); });
    if (!agreement.ok()) return agreement.status();
    const std::string reference_precision = cfg->optimization().precision();
    std::printf(
        "%s against %s: top-1 agreement %.2f%% (%lld/%lld), accuracy %.2f%% against %.2f%%, largest |logit "
        "difference| %.4g (largest |logit| %.4g)\n",
        other_precision.c_str(), reference_precision.c_str(), 100.0 * agreement->top1_agree / agreement->images,
        static_cast<long long>(agreement->top1_agree), static_cast<long long>(agreement->images),
        100.0 * agreement->other_correct / agreement->images, 100.0 * agreement->reference_correct / agreement->images,
        agreement->max_abs_logit_diff, agreement->max_reference_abs_logit);
    comparison_json = absl::StrFormat(
        ",\n  \"comparison\": {\"precision\": \"%s\", \"reference_precision\": \"%s\", \"top1_agree\": %d, "
        "\"other_correct\": %d, \"max_abs_logit_diff\": %.6g, \"max_reference_abs_logit\": %.6g}",
        other_precision, reference_precision, agreement->top1_agree, agreement->other_correct,
        agreement->max_abs_logit_diff, agreement->max_reference_abs_logit);
  }
  const std::string json_path = absl::GetFlag(FLAGS_output_json);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << absl::StrFormat(
        "{\n  \"model\": \"%s\",\n  \"version\": %d,\n  \"data\": \"%s\",\n  \"images\": %d,\n"
        "  \"correct\": %d,\n  \"accuracy\": %.4f%s\n}\n",
        cfg->name(), version, source, n, correct, accuracy, comparison_json);
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", json_path));
  }
  const std::string erf_path = absl::GetFlag(FLAGS_erf_output);
  if (!erf_path.empty()) {
    const int64_t tiles = absl::GetFlag(FLAGS_erf_tiles);
    const int64_t erf_images =
        tiles == 1 ? std::min(n, absl::GetFlag(FLAGS_erf_images)) : absl::GetFlag(FLAGS_erf_images);
    auto network = runtime::LoadNetworkForGradients(*cfg, model_dir, version);
    if (!network.ok()) return network.status();
    auto x = runtime::NormalizePixels(
        tiles == 1 ? pixels->pixels.slice(0, 0, erf_images) : TileImages(pixels->pixels, tiles, erf_images),
        cfg->input_preprocessing());
    if (!x.ok()) return x.status();
    auto erf = ComputeEffectiveReceptiveField(**network, *x, batch_size, {0.2, 0.5, 0.9, 0.99});
    if (!erf.ok()) return erf.status();
    if (absl::Status s = WriteErfJson(erf_path, cfg->name(), version, tiles, *erf); !s.ok()) return s;
    std::printf(
        "effective receptive field over %lld images (%lldx%lld input, %lldx%lld feature map): "
        "%.0f%% of the contribution within the central %.1f%% of the input, 90%% within %.1f%%; "
        "50%% on the top %.1f%% of pixels\n",
        static_cast<long long>(erf->images), static_cast<long long>(erf->height), static_cast<long long>(erf->width),
        static_cast<long long>(erf->feature_height), static_cast<long long>(erf->feature_width),
        100 * erf->squares[1].mass_fraction, 100 * erf->squares[1].area_fraction, 100 * erf->squares[2].area_fraction,
        100 * erf->pixel_fractions[1]);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace wtserve::tools

int main(int argc, char** argv) {
  // Training and evaluation reuse same-sized activation buffers on every step.
  if (const std::string refused = wtserve::process::RetainFreedTensorMemory(); !refused.empty()) {
    std::fprintf(stderr, "wtserve-eval: warning: %s\n", refused.c_str());
  }
  wtserve::cli::SetUsage(__FILE__,
                         "Accuracy of a model folder without a server.\n"
                         "  wtserve-eval --model_dir=models/wtconvnext_fmnist [--data=fashion-mnist|<folder>]");
  absl::ParseCommandLine(argc, argv);
  try {
    absl::Status status = wtserve::tools::Run();
    if (!status.ok()) {
      std::fprintf(stderr, "wtserve-eval: %s\n", status.ToString().c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wtserve-eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
