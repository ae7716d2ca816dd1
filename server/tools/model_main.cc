// wtserve-model: what a user runs between downloading a checkpoint and serving it.
//   inspect FILE               keys, shapes, dtypes, parameter count, the layout it came in, and
//                              which registered architecture it is (and why the others are not)
//   convert IN OUT             any layout the loader reads -> a flat state dict (the served form)
//   make-folder IN             a model-repository folder: config.pbtxt, labels, warmup, version
// docs/models.md ("From a downloaded checkpoint to a served model") walks through all three.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cli/usage.h"
#include "server/nn/exception_text.h"
#include "server/nn/models/checkpoint.h"
#include "server/tools/checkpoint_inspect.h"
#include "server/tools/model_folder.h"

ABSL_FLAG(std::string, entry, "", "Top-level entry holding the weights when the file wraps several");
ABSL_FLAG(bool, all, false, "inspect: list every key (default: the first 20)");
ABSL_FLAG(std::string, architecture, "", "Registered architecture (default: the only one the weights match)");
ABSL_FLAG(std::string, repository, "", "make-folder: model repository to write into (required)");
ABSL_FLAG(std::string, name, "", "make-folder: model name = folder name (required)");
ABSL_FLAG(int64_t, version, 1, "make-folder: version folder");
ABSL_FLAG(std::string, labels, "", "make-folder: class names, one per line (default: none)");
ABSL_FLAG(int64_t, image_size, 0, "make-folder: input H = W (default: 224, or 28 for the *_fmnist variants)");
ABSL_FLAG(std::string, mean, "", "make-folder: per-channel mean on [0, 1] (default: ImageNet's, or 0.2860)");
ABSL_FLAG(std::string, std, "", "make-folder: per-channel std (default: ImageNet's, or 0.3530)");

namespace wtserve::tools {
namespace {

struct Read {
  nn::StateDict weights;
  nn::CheckpointLayout layout;
};

absl::StatusOr<Read> ReadCheckpoint(const std::string& path) {
  Read r;
  nn::CheckpointOptions options;
  options.entry = absl::GetFlag(FLAGS_entry);
  try {
    r.weights = nn::ReadStateDict(path, options, &r.layout);
  } catch (const std::exception& e) {
    std::string message = nn::ExceptionText(e);
    if (message.find("checkpoint_entry") != std::string::npos) message += " (here: --entry=NAME)";
    return absl::InvalidArgumentError(message);
  }
  return r;
}

std::string Shape(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

absl::Status Inspect(const std::string& path) {
  absl::StatusOr<Read> r = ReadCheckpoint(path);
  if (!r.ok()) return r.status();
  std::printf("%s\n", path.c_str());
  if (r->layout.entry.empty()) {
    std::printf("  layout: a flat state dict\n");
  } else {
    std::printf("  layout: weights under '%s'; the file's top-level entries: %s\n", r->layout.entry.c_str(),
                absl::StrJoin(r->layout.top_level, ", ").c_str());
  }
  if (r->layout.stripped_module_prefix)
    std::printf("  keys were saved with a 'module.' prefix (DataParallel): removed\n");
  int64_t values = 0;
  std::map<std::string, int> dtypes;
  for (const auto& [key, t] : r->weights) {
    values += t.numel();
    ++dtypes[std::string(c10::toString(t.scalar_type()))];
  }
  std::vector<std::string> dtype_text;
  for (const auto& [dtype, n] : dtypes) dtype_text.push_back(absl::StrCat(dtype, " x", n));
  std::printf("  %zu tensors, %lld values (%s)\n", r->weights.size(), static_cast<long long>(values),
              absl::StrJoin(dtype_text, ", ").c_str());
  const size_t shown = absl::GetFlag(FLAGS_all) ? r->weights.size() : std::min<size_t>(20, r->weights.size());
  for (size_t i = 0; i < shown; ++i) {
    const auto& [key, t] = r->weights[i];
    std::printf("    %-60s %-18s %s\n", key.c_str(), Shape(t).c_str(), c10::toString(t.scalar_type()));
  }
  if (shown < r->weights.size()) std::printf("    ... %zu more (--all lists them)\n", r->weights.size() - shown);
  const CheckpointShapes shapes = GuessShapes(r->weights);
  std::printf("  architectures (built with %lld classes and %lld input channels, read off the weights):\n",
              static_cast<long long>(shapes.num_classes > 0 ? shapes.num_classes : 1000),
              static_cast<long long>(shapes.in_chans > 0 ? shapes.in_chans : 3));
  for (const ArchitectureMatch& m : MatchArchitectures(r->weights)) {
    std::printf("    %-20s %s\n", m.architecture.c_str(),
                m.matches() ? "MATCHES" : ("no: " + m.mismatch.Summary(3)).c_str());
  }
  return absl::OkStatus();
}

absl::Status Convert(const std::string& in, const std::string& out) {
  absl::StatusOr<Read> r = ReadCheckpoint(in);
  if (!r.ok()) return r.status();
  absl::StatusOr<LoadedNetwork> net = LoadAsArchitecture(r->weights, absl::GetFlag(FLAGS_architecture), in);
  if (!net.ok()) return net.status();
  try {
    nn::SaveStateDict(*net->network, out);
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
  std::printf("wrote %s: %s weights (%lld classes, %lld input channels) as a flat state dict\n", out.c_str(),
              net->architecture.c_str(), static_cast<long long>(net->options.num_classes),
              static_cast<long long>(net->options.in_chans));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Floats(const std::string& text, const char* flag) {
  std::vector<float> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    float v = 0;
    if (!absl::SimpleAtof(part, &v))
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": not a number: '", part, "'"));
    out.push_back(v);
  }
  return out;
}

absl::Status MakeFolder(const std::string& in) {
  const std::string repository = absl::GetFlag(FLAGS_repository), name = absl::GetFlag(FLAGS_name);
  if (repository.empty() || name.empty())
    return absl::InvalidArgumentError("make-folder needs --repository and --name");
  absl::StatusOr<Read> r = ReadCheckpoint(in);
  if (!r.ok()) return r.status();
  absl::StatusOr<LoadedNetwork> net = LoadAsArchitecture(r->weights, absl::GetFlag(FLAGS_architecture), in);
  if (!net.ok()) return net.status();

  const bool compact = absl::EndsWith(net->architecture, "_fmnist");
  ServingConfigSpec spec;
  spec.name = name;
  spec.architecture = net->architecture;
  spec.num_classes = net->options.num_classes;
  spec.channels = net->options.in_chans;
  const int64_t size = absl::GetFlag(FLAGS_image_size) > 0 ? absl::GetFlag(FLAGS_image_size) : compact ? 28 : 224;
  spec.height = spec.width = size;
  // docs/reference.md: ImageNet's statistics for the released models, Fashion-MNIST's (§3) for
  // the compact ones.
  spec.mean = compact ? std::vector<float>{0.2860f} : std::vector<float>{0.485f, 0.456f, 0.406f};
  spec.std = compact ? std::vector<float>{0.3530f} : std::vector<float>{0.229f, 0.224f, 0.225f};
  if (!absl::GetFlag(FLAGS_mean).empty()) {
    absl::StatusOr<std::vector<float>> v = Floats(absl::GetFlag(FLAGS_mean), "mean");
    if (!v.ok()) return v.status();
    spec.mean = *v;
  }
  if (!absl::GetFlag(FLAGS_std).empty()) {
    absl::StatusOr<std::vector<float>> v = Floats(absl::GetFlag(FLAGS_std), "std");
    if (!v.ok()) return v.status();
    spec.std = *v;
  }
  config::ModelConfig cfg = DefaultServingConfig(spec);
  if (!compact) {
    // Encoded images as the released models were evaluated: shorter side to size / 0.875,
    // bicubic, centre crop (docs/reference.md §2).
    cfg.mutable_input_preprocessing()->set_resize_shorter_side(static_cast<int64_t>(size / 0.875 + 0.5));
    cfg.mutable_input_preprocessing()->set_center_crop(size);
    cfg.mutable_input_preprocessing()->set_interpolation("bicubic");
  }
  // Ready only after a single image and a full preferred batch went through.
  auto* single = cfg.add_model_warmup();
  single->set_name("single");
  single->set_batch_size(1);
  single->set_count(2);
  auto* batch = cfg.add_model_warmup();
  batch->set_name("preferred_batch");
  batch->set_batch_size(cfg.dynamic_batching().preferred_batch_size(0));
  batch->set_count(1);

  std::vector<std::string> labels;
  if (!absl::GetFlag(FLAGS_labels).empty()) {
    std::ifstream file(absl::GetFlag(FLAGS_labels));
    if (!file) return absl::NotFoundError(absl::StrCat("--labels: cannot open ", absl::GetFlag(FLAGS_labels)));
    for (std::string line; std::getline(file, line);) {
      if (!line.empty()) labels.push_back(line);
    }
    if (static_cast<int64_t>(labels.size()) != spec.num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--labels: ", labels.size(), " names for ", spec.num_classes, " classes"));
    }
  } else {
    cfg.mutable_output(0)->clear_label_filename();
  }
  const std::string dir = (std::filesystem::path(repository) / name).string();
  if (absl::Status s = WriteModelFolder(dir, cfg, absl::GetFlag(FLAGS_version), *net->network, labels); !s.ok()) {
    return s;
  }
  std::printf("wrote %s: config.pbtxt (%s, input %lldx%lldx%lld%s), %s%lld/model.pt\n", dir.c_str(),
              net->architecture.c_str(), static_cast<long long>(spec.channels), static_cast<long long>(size),
              static_cast<long long>(size), compact ? "" : ", encoded images resized and centre-cropped",
              labels.empty() ? "" : "labels.txt, ", static_cast<long long>(absl::GetFlag(FLAGS_version)));
  std::printf("serve it: wtserve --model_repository=%s\n", repository.c_str());
  return absl::OkStatus();
}

absl::Status Run(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: wtserve-model inspect FILE | convert IN OUT | make-folder IN --repository=DIR --name=NAME";
  if (args.size() < 2) return absl::InvalidArgumentError(usage);
  const std::string& command = args[1];
  if (command == "inspect" && args.size() == 3) return Inspect(args[2]);
  if (command == "convert" && args.size() == 4) return Convert(args[2], args[3]);
  if (command == "make-folder" && args.size() == 3) return MakeFolder(args[2]);
  return absl::InvalidArgumentError(usage);
}

}  // namespace
}  // namespace wtserve::tools

int main(int argc, char** argv) {
  wtserve::cli::SetUsage(__FILE__,
                         "from a downloaded checkpoint to a served model folder.\n"
                         "  wtserve-model inspect WTConvNeXt_tiny_5_300e_ema.pth\n"
                         "  wtserve-model convert checkpoint.pth model.pt\n"
                         "  wtserve-model make-folder WTConvNeXt_tiny_5_300e_ema.pth --repository=models "
                         "--name=wtconvnext_tiny --labels=imagenet_classes.txt");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin(), positional.end());
  const absl::Status status = wtserve::tools::Run(args);
  if (!status.ok()) {
    std::fprintf(stderr, "wtserve-model: %s\n", std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kInvalidArgument && args.size() < 3 ? 2 : 1;
  }
  return 0;
}
