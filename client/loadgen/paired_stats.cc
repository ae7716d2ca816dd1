#include "client/loadgen/paired_stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace wtserve::loadgen {

OutcomeGrid BuildOutcomeGrid(const Workload& w, const std::vector<int64_t>& predictions) {
  OutcomeGrid grid;
  grid.conditions = w.conditions;
  const size_t conditions = w.conditions.size();
  grid.images = conditions == 0 ? 0 : w.size() / static_cast<int64_t>(conditions);
  // Same layout as BuildAccuracyTable (report.cc): first-appearance corruptions, sorted severities.
  std::map<std::string, size_t> row;
  for (const Condition& c : w.conditions) {
    if (c.corruption.empty()) continue;
    if (row.emplace(c.corruption, grid.corruptions.size()).second) grid.corruptions.push_back(c.corruption);
    if (std::find(grid.severities.begin(), grid.severities.end(), c.severity) == grid.severities.end()) {
      grid.severities.push_back(c.severity);
    }
  }
  std::sort(grid.severities.begin(), grid.severities.end());
  for (const Condition& c : w.conditions) {
    if (c.corruption.empty()) {
      grid.cell_of.push_back(-1);
      continue;
    }
    const auto s = std::find(grid.severities.begin(), grid.severities.end(), c.severity) - grid.severities.begin();
    grid.cell_of.push_back(static_cast<int64_t>(row[c.corruption] * grid.severities.size()) + s);
  }
  grid.outcome.assign(conditions, std::vector<int8_t>(static_cast<size_t>(grid.images), -1));
  for (size_t item = 0; item < predictions.size() && item < static_cast<size_t>(w.size()); ++item) {
    if (predictions[item] < 0) continue;
    // Items are condition-major (workload.h): item = condition * images + image.
    const size_t image = item % static_cast<size_t>(grid.images);
    grid.outcome[static_cast<size_t>(w.condition_of[item])][image] = predictions[item] == w.labels[item] ? 1 : 0;
  }
  return grid;
}

AccuracyTable WeightedAccuracyTable(const OutcomeGrid& grid, const std::vector<int32_t>& weight) {
  AccuracyTable table;
  table.corruptions = grid.corruptions;
  table.severities = grid.severities;
  table.cells.assign(grid.corruptions.size(), std::vector<Cell>(grid.severities.size()));
  const size_t severities = grid.severities.size();
  for (size_t k = 0; k < grid.outcome.size(); ++k) {
    const std::vector<int8_t>& o = grid.outcome[k];
    int64_t correct = 0, total = 0;
    if (weight.empty()) {
      for (int8_t v : o) {
        correct += v == 1;
        total += v >= 0;
      }
    } else {
      for (size_t i = 0; i < o.size(); ++i) {
        correct += weight[i] * (o[i] == 1);
        total += weight[i] * (o[i] >= 0);
      }
    }
    Cell* cell = grid.cell_of[k] < 0 ? &table.clean
                                     : &table.cells[static_cast<size_t>(grid.cell_of[k]) / severities]
                                                   [static_cast<size_t>(grid.cell_of[k]) % severities];
    cell->correct += correct;
    cell->total += total;
  }
  return table;
}

McNemarTest McNemarExact(int64_t model_only, int64_t baseline_only) {
  McNemarTest test;
  test.model_only = model_only;
  test.baseline_only = baseline_only;
  const int64_t n = model_only + baseline_only;
  if (n == 0) return test;
  const int64_t m = std::min(model_only, baseline_only);
  // P[X <= m] for X ~ Binomial(n, 1/2), summed in log space: C(n, k) / 2^n underflows for n > ~1000.
  const double log_half_n = -static_cast<double>(n) * std::log(2.0);
  const double log_n_fact = std::lgamma(static_cast<double>(n) + 1);
  double max_log = -INFINITY;
  std::vector<double> logs;
  for (int64_t k = 0; k <= m; ++k) {
    const double l =
        log_n_fact - std::lgamma(static_cast<double>(k) + 1) - std::lgamma(static_cast<double>(n - k) + 1) + log_half_n;
    logs.push_back(l);
    max_log = std::max(max_log, l);
  }
  double sum = 0;
  for (double l : logs) sum += std::exp(l - max_log);
  test.p_value = std::min(1.0, 2.0 * std::exp(max_log + std::log(sum)));
  return test;
}

namespace {

// The replicate values of one statistic.
class Samples {
 public:
  void Add(double value) {
    if (std::isnan(value)) {
      undefined_ = true;
    } else {
      values_.push_back(value);
    }
  }
  void Add(const std::optional<double>& value) { Add(value ? *value : kUndefined); }

  Interval Get(double confidence) {
    if (undefined_ || values_.empty()) return {};
    std::sort(values_.begin(), values_.end());
    return {Quantile((1.0 - confidence) / 2), Quantile((1.0 + confidence) / 2)};
  }

 private:
  double Quantile(double q) const {
    const double h = q * static_cast<double>(values_.size() - 1);
    const size_t below = static_cast<size_t>(std::floor(h));
    const size_t above = std::min(below + 1, values_.size() - 1);
    return values_[below] + (h - static_cast<double>(below)) * (values_[above] - values_[below]);
  }

  std::vector<double> values_;
  bool undefined_ = false;
};

std::vector<Interval> GetAll(std::vector<Samples>& samples, double confidence) {
  std::vector<Interval> out;
  for (Samples& s : samples) out.push_back(s.Get(confidence));
  return out;
}

// Replicates of every accuracy of one table, or of a difference of two tables.
struct AccuracySamples {
  AccuracySamples(size_t corruptions, size_t severities)
      : corruption(corruptions), cells(corruptions, std::vector<Samples>(severities)) {}

  void Add(const AccuracyTable& a) {
    clean.Add(a.clean.accuracy());
    mean_corruption.Add(a.MeanCorruptionAccuracy());
    for (size_t c = 0; c < cells.size(); ++c) {
      corruption[c].Add(a.CorruptionAccuracy(c));
      for (size_t s = 0; s < cells[c].size(); ++s) cells[c][s].Add(a.cells[c][s].accuracy());
    }
  }
  void AddDifference(const AccuracyTable& a, const AccuracyTable& b) {
    clean.Add(a.clean.accuracy() - b.clean.accuracy());
    const std::optional<double> ma = a.MeanCorruptionAccuracy(), mb = b.MeanCorruptionAccuracy();
    mean_corruption.Add(ma && mb ? *ma - *mb : kUndefined);
    for (size_t c = 0; c < cells.size(); ++c) {
      corruption[c].Add(a.CorruptionAccuracy(c) - b.CorruptionAccuracy(c));
      for (size_t s = 0; s < cells[c].size(); ++s) cells[c][s].Add(a.cells[c][s].accuracy() - b.cells[c][s].accuracy());
    }
  }
  AccuracyIntervals Get(double confidence) {
    AccuracyIntervals out;
    out.clean = clean.Get(confidence);
    out.mean_corruption = mean_corruption.Get(confidence);
    out.corruption = GetAll(corruption, confidence);
    for (auto& row : cells) out.cells.push_back(GetAll(row, confidence));
    return out;
  }

  Samples clean, mean_corruption;
  std::vector<Samples> corruption;
  std::vector<std::vector<Samples>> cells;
};

AccuracyDifferences Differences(const AccuracyTable& a, const AccuracyTable& b) {
  AccuracyDifferences d;
  d.clean = a.clean.accuracy() - b.clean.accuracy();
  const std::optional<double> ma = a.MeanCorruptionAccuracy(), mb = b.MeanCorruptionAccuracy();
  d.mean_corruption = ma && mb ? *ma - *mb : kUndefined;
  for (size_t c = 0; c < a.cells.size(); ++c) {
    d.corruption.push_back(a.CorruptionAccuracy(c) - b.CorruptionAccuracy(c));
    std::vector<double> row;
    for (size_t s = 0; s < a.cells[c].size(); ++s) row.push_back(a.cells[c][s].accuracy() - b.cells[c][s].accuracy());
    d.cells.push_back(std::move(row));
  }
  return d;
}

bool SameConditions(const std::vector<Condition>& a, const std::vector<Condition>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].corruption != b[k].corruption || a[k].severity != b[k].severity) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PairedStatistics> ComputePairedStatistics(const OutcomeGrid& model, const OutcomeGrid& baseline,
                                                         const std::vector<std::string>& imagenet_c_names,
                                                         const BootstrapOptions& options) {
  if (!SameConditions(model.conditions, baseline.conditions) || model.images != baseline.images) {
    return absl::InvalidArgumentError("paired statistics need both models measured on the same images and conditions");
  }
  if (options.replicates < 2) return absl::InvalidArgumentError("bootstrap replicates must be >= 2");
  if (!(options.confidence > 0 && options.confidence < 1)) {
    return absl::InvalidArgumentError("bootstrap confidence must be in (0, 1)");
  }
  if (model.images == 0) return absl::InvalidArgumentError("paired statistics of no images");

  PairedStatistics out;
  out.options = options;
  out.images = model.images;
  const size_t corruptions = model.corruptions.size(), severities = model.severities.size();
  AccuracySamples model_samples(corruptions, severities), baseline_samples(corruptions, severities),
      difference_samples(corruptions, severities);
  std::vector<Samples> ce(corruptions), relative_ce(corruptions);
  Samples mce, relative_mce, mce_all, relative_mce_all;

  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int64_t> pick(0, model.images - 1);
  std::vector<int32_t> weight(static_cast<size_t>(model.images));
  for (int r = 0; r < options.replicates; ++r) {
    std::fill(weight.begin(), weight.end(), 0);
    for (int64_t i = 0; i < model.images; ++i) ++weight[static_cast<size_t>(pick(rng))];
    const AccuracyTable a = WeightedAccuracyTable(model, weight), b = WeightedAccuracyTable(baseline, weight);
    model_samples.Add(a);
    baseline_samples.Add(b);
    difference_samples.AddDifference(a, b);
    if (corruptions == 0) continue;
    std::string error;
    const std::optional<CorruptionErrors> e = ComputeCorruptionErrors(a, b, imagenet_c_names, &error);
    for (size_t c = 0; c < corruptions; ++c) {
      ce[c].Add(e->ce[c]);
      relative_ce[c].Add(e->relative_ce[c]);
    }
    mce.Add(e->mce);
    relative_mce.Add(e->relative_mce);
    mce_all.Add(e->mce_all);
    relative_mce_all.Add(e->relative_mce_all);
  }
  const double q = options.confidence;
  out.model = model_samples.Get(q);
  out.baseline = baseline_samples.Get(q);
  out.difference = difference_samples.Get(q);
  out.difference_estimate = Differences(WeightedAccuracyTable(model, {}), WeightedAccuracyTable(baseline, {}));
  out.ce = GetAll(ce, q);
  out.relative_ce = GetAll(relative_ce, q);
  out.mce = mce.Get(q);
  out.relative_mce = relative_mce.Get(q);
  out.mce_all = mce_all.Get(q);
  out.relative_mce_all = relative_mce_all.Get(q);

  for (size_t k = 0; k < model.conditions.size(); ++k) {
    if (!model.conditions[k].corruption.empty()) continue;
    int64_t model_only = 0, baseline_only = 0;
    for (int64_t i = 0; i < model.images; ++i) {
      const int8_t m = model.outcome[k][static_cast<size_t>(i)], b = baseline.outcome[k][static_cast<size_t>(i)];
      if (m < 0 || b < 0) continue;
      model_only += m == 1 && b == 0;
      baseline_only += m == 0 && b == 1;
    }
    out.clean_mcnemar = McNemarExact(model_only, baseline_only);
    break;
  }
  return out;
}

}  // namespace wtserve::loadgen
