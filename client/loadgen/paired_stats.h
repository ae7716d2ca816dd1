// Uncertainty of a model-versus-baseline comparison on the same images: a paired bootstrap over
// images for every accuracy, CE and difference in the report, and McNemar's exact test for clean
// accuracy. docs/loadgen.md ("Intervals") says how to read them.
#ifndef WTSERVE_CLIENT_LOADGEN_PAIRED_STATS_H_
#define WTSERVE_CLIENT_LOADGEN_PAIRED_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/loadgen/stats.h"
#include "client/loadgen/workload.h"

namespace wtserve::loadgen {

// What one model answered for every image in every condition of a workload.
// outcome[k][i]: condition k of the workload (its `conditions` order), source image i;
// 1 = correct top-1, 0 = wrong, -1 = no answer (the request failed).
// The table layout of BuildAccuracyTable: corruptions in order of first appearance, severities
// ascending; cell_of[k] = c * severities.size() + s for a corrupted condition, -1 for clean.
struct OutcomeGrid {
  std::vector<Condition> conditions;
  int64_t images = 0;
  std::vector<std::vector<int8_t>> outcome;
  std::vector<std::string> corruptions;
  std::vector<int> severities;
  std::vector<int64_t> cell_of;
};
// From a labelled workload and one model's per-item predictions (RunResult::predictions).
OutcomeGrid BuildOutcomeGrid(const Workload& workload, const std::vector<int64_t>& predictions);

// The AccuracyTable (stats.h) of a grid where image i is counted weight[i] times; weight empty:
// once each. Unanswered images count in no cell, as in BuildAccuracyTable.
AccuracyTable WeightedAccuracyTable(const OutcomeGrid& grid, const std::vector<int32_t>& weight);

// A two-sided interval; both ends kUndefined when the statistic is undefined in any bootstrap
// replicate (an empty cell, a CE whose baseline lost nothing in that resample).
struct Interval {
  double low = kUndefined, high = kUndefined;
  bool defined() const { return low == low; }  // NaN != NaN
};

// Intervals for every accuracy of one table (or for model - baseline differences): clean,
// mean corruption accuracy, per corruption (mean over severities) and per cell [c][s].
struct AccuracyIntervals {
  Interval clean, mean_corruption;
  std::vector<Interval> corruption;
  std::vector<std::vector<Interval>> cells;
};

// Point estimates of the model - baseline accuracy differences (fractions; positive: the model
// is more accurate), in the layout of AccuracyIntervals.
struct AccuracyDifferences {
  double clean = kUndefined, mean_corruption = kUndefined;
  std::vector<double> corruption;
  std::vector<std::vector<double>> cells;
};

// McNemar's exact test of equal clean accuracy on paired answers: model_only = images only the
// model got right, baseline_only = only the baseline; under the null hypothesis each of the
// n = model_only + baseline_only discordant images is a fair coin, so the two-sided
// p = min(1, 2 * P[Binomial(n, 1/2) <= min(model_only, baseline_only)]); n = 0 gives p = 1.
// Images either model left unanswered are not counted.
struct McNemarTest {
  int64_t model_only = 0, baseline_only = 0;
  double p_value = 1.0;
};
McNemarTest McNemarExact(int64_t model_only, int64_t baseline_only);

struct BootstrapOptions {
  int replicates = 2000;     // >= 2
  double confidence = 0.95;  // in (0, 1)
  uint64_t seed = 0;         // of the image resampling; same seed, same intervals
};

// Paired percentile bootstrap: each replicate draws `images` source images with replacement and
// gives every model the same draw in every condition, so the intervals of differences and CE
// include the correlation between the two models and between conditions. An interval's ends are
// the (1 - confidence)/2 and (1 + confidence)/2 quantiles of the replicates (linear interpolation
// between order statistics).
struct PairedStatistics {
  BootstrapOptions options;
  int64_t images = 0;
  AccuracyIntervals model, baseline, difference;
  AccuracyDifferences difference_estimate;
  // CE terms in CorruptionErrors' order.
  std::vector<Interval> ce, relative_ce;
  Interval mce, relative_mce, mce_all, relative_mce_all;
  std::optional<McNemarTest> clean_mcnemar;  // when the workload has a clean condition
};

// InvalidArgument when the grids do not describe the same workload or the options are out of
// range.
absl::StatusOr<PairedStatistics> ComputePairedStatistics(const OutcomeGrid& model, const OutcomeGrid& baseline,
                                                         const std::vector<std::string>& imagenet_c_names,
                                                         const BootstrapOptions& options);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_PAIRED_STATS_H_
