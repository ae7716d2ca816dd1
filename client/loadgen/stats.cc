#include "client/loadgen/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace wtserve::loadgen {

double Percentile(const std::vector<double>& sorted, double p) {
  if (p <= 0) return sorted.front();
  const double n = static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * n));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary Summarize(std::vector<double> latencies) {
  LatencySummary s;
  if (latencies.empty()) return s;
  std::sort(latencies.begin(), latencies.end());
  s.count = static_cast<int64_t>(latencies.size());
  s.min = latencies.front();
  s.max = latencies.back();
  // Sum in sorted order (small first) for a stable mean.
  s.mean = std::accumulate(latencies.begin(), latencies.end(), 0.0) / static_cast<double>(latencies.size());
  s.p50 = Percentile(latencies, 50);
  s.p90 = Percentile(latencies, 90);
  s.p95 = Percentile(latencies, 95);
  s.p99 = Percentile(latencies, 99);
  return s;
}

double AccuracyTable::CorruptionAccuracy(size_t c) const {
  double sum = 0;
  for (const Cell& cell : cells[c]) sum += cell.accuracy();
  return cells[c].empty() ? kUndefined : sum / static_cast<double>(cells[c].size());
}

std::optional<double> AccuracyTable::MeanCorruptionAccuracy() const {
  double sum = 0;
  int64_t n = 0;
  for (const auto& row : cells) {
    for (const Cell& cell : row) {
      sum += cell.accuracy();
      ++n;
    }
  }
  if (n == 0 || std::isnan(sum)) return std::nullopt;
  return sum / static_cast<double>(n);
}

namespace {

std::optional<double> Mean(const std::vector<std::optional<double>>& values, const std::vector<bool>& use) {
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!use[i]) continue;
    if (!values[i]) return std::nullopt;
    sum += *values[i];
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

}  // namespace

std::optional<CorruptionErrors> ComputeCorruptionErrors(const AccuracyTable& model, const AccuracyTable& baseline,
                                                        const std::vector<std::string>& imagenet_c_names,
                                                        std::string* error) {
  if (model.corruptions != baseline.corruptions || model.severities != baseline.severities) {
    *error = "model and baseline were measured on different corruptions or severities";
    return std::nullopt;
  }
  CorruptionErrors out;
  out.corruptions = model.corruptions;
  std::vector<bool> in_imagenet_c, all(model.corruptions.size(), true);
  for (size_t c = 0; c < model.corruptions.size(); ++c) {
    double err = 0, err_base = 0, rel = 0, rel_base = 0;
    for (size_t s = 0; s < model.severities.size(); ++s) {
      err += model.cells[c][s].error();
      err_base += baseline.cells[c][s].error();
      rel += model.cells[c][s].error() - model.clean.error();
      rel_base += baseline.cells[c][s].error() - baseline.clean.error();
    }
    // NaN (an empty cell) compares false: undefined as well.
    out.ce.push_back(err_base > 0 && !std::isnan(err) ? std::optional<double>(err / err_base) : std::nullopt);
    out.relative_ce.push_back(rel_base > 0 && !std::isnan(rel) ? std::optional<double>(rel / rel_base) : std::nullopt);
    in_imagenet_c.push_back(std::find(imagenet_c_names.begin(), imagenet_c_names.end(), model.corruptions[c]) !=
                            imagenet_c_names.end());
  }
  out.mce = Mean(out.ce, in_imagenet_c);
  out.relative_mce = Mean(out.relative_ce, in_imagenet_c);
  out.mce_all = Mean(out.ce, all);
  out.relative_mce_all = Mean(out.relative_ce, all);
  return out;
}

}  // namespace wtserve::loadgen
