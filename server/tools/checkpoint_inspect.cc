#include "server/tools/checkpoint_inspect.h"

#include <algorithm>
#include <stdexcept>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/nn/exception_text.h"

namespace wtserve::tools {
namespace {

int64_t DimOf(const nn::StateDict& weights, const std::vector<std::string>& keys, int64_t dim) {
  for (const auto& [key, t] : weights) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end() && t.dim() > dim) return t.size(dim);
  }
  return 0;
}

size_t Differences(const nn::StateDictMismatch& m) {
  return m.missing.size() + m.unexpected.size() + m.misshaped.size();
}

bool HasKeyContaining(const nn::StateDict& weights, const std::string& part) {
  for (const auto& [key, t] : weights) {
    if (key.find(part) != std::string::npos) return true;
  }
  return false;
}

// Registered architectures whose family the key names allow (ConvNeXt vs MobileNetV2, WTConv vs
// plain depthwise, compact 2x2 stem vs 4x4): building every network to compare takes ~20 s on two
// cores, most of it for the large ones. The exact comparison still decides.
std::vector<std::string> PlausibleArchitectures(const nn::StateDict& weights) {
  const bool wtconv = HasKeyContaining(weights, "wt_filter") || HasKeyContaining(weights, "base_weight") ||
                      HasKeyContaining(weights, "base_conv.") || HasKeyContaining(weights, "wavelet_");
  const bool mobilenet = HasKeyContaining(weights, "features.0.0.weight");
  int64_t stem_kernel = 0;
  for (const auto& [key, t] : weights) {
    if (key == "stem.0.weight" && t.dim() == 4) stem_kernel = t.size(2);
  }
  std::vector<std::string> out;
  for (const std::string& name : nn::RegisteredArchitectures()) {
    const bool is_wt = absl::StartsWith(name, "wt");
    const bool is_mobilenet = absl::StrContains(name, "mobilenet");
    const bool is_compact = absl::EndsWith(name, "_fmnist");
    if (is_wt != wtconv || is_mobilenet != mobilenet) continue;
    if (!mobilenet && stem_kernel != 0 && is_compact != (stem_kernel == 2)) continue;
    out.push_back(name);
  }
  return out;
}

}  // namespace

CheckpointShapes GuessShapes(const nn::StateDict& weights) {
  CheckpointShapes shapes;
  shapes.num_classes = DimOf(weights, {"head.fc.weight", "classifier.1.weight"}, 0);
  shapes.in_chans = DimOf(weights, {"stem.0.weight", "features.0.0.weight"}, 1);
  return shapes;
}

std::vector<ArchitectureMatch> MatchArchitectures(const nn::StateDict& weights,
                                                  const std::vector<std::string>& architectures) {
  const CheckpointShapes shapes = GuessShapes(weights);
  std::vector<ArchitectureMatch> matches;
  for (const std::string& name : architectures.empty() ? nn::RegisteredArchitectures() : architectures) {
    ArchitectureMatch m;
    m.architecture = name;
    m.options.num_classes = shapes.num_classes > 0 ? shapes.num_classes : 1000;
    m.options.in_chans = shapes.in_chans > 0 ? shapes.in_chans : 3;
    try {
      const auto network = nn::CreateClassifier(name, m.options);
      nn::StateDict copy = weights;  // CompareStateDict renames in place
      m.mismatch = nn::CompareStateDict(*network, copy, name);
    } catch (const std::exception& e) {
      m.mismatch.missing = {std::string("(cannot build: ") + nn::ExceptionText(e) + ")"};
    }
    matches.push_back(std::move(m));
  }
  std::stable_sort(matches.begin(), matches.end(), [](const ArchitectureMatch& a, const ArchitectureMatch& b) {
    return Differences(a.mismatch) < Differences(b.mismatch);
  });
  return matches;
}

absl::StatusOr<LoadedNetwork> LoadAsArchitecture(const nn::StateDict& weights, const std::string& architecture,
                                                 const std::string& name) {
  LoadedNetwork out;
  if (architecture.empty()) {
    std::vector<std::string> candidates;
    const std::vector<std::string> plausible = PlausibleArchitectures(weights);
    if (!plausible.empty()) {
      for (const ArchitectureMatch& m : MatchArchitectures(weights, plausible)) {
        if (m.matches()) {
          candidates.push_back(m.architecture);
          out.options = m.options;
        }
      }
    }
    if (candidates.size() != 1) {
      return absl::FailedPreconditionError(
          candidates.empty()
              ? absl::StrCat(name, " matches no registered architecture (wtserve-model inspect says why)")
              : absl::StrCat(name, " matches several architectures (", absl::StrJoin(candidates, ", "),
                             "): name one with --architecture"));
    }
    out.architecture = candidates[0];
  } else {
    const CheckpointShapes shapes = GuessShapes(weights);
    out.architecture = architecture;
    out.options.num_classes = shapes.num_classes > 0 ? shapes.num_classes : 1000;
    out.options.in_chans = shapes.in_chans > 0 ? shapes.in_chans : 3;
  }
  try {
    out.network = nn::CreateClassifier(out.architecture, out.options);
    nn::LoadStateDictFrom(*out.network, weights, name);
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(nn::ExceptionText(e));
  }
  return out;
}

}  // namespace wtserve::tools
