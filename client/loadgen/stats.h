// Numbers of a loadgen report: latency percentiles and robustness metrics (docs/loadgen.md).
#ifndef WTSERVE_CLIENT_LOADGEN_STATS_H_
#define WTSERVE_CLIENT_LOADGEN_STATS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace wtserve::loadgen {

// Nearest-rank percentile (the smallest value with at least p% of the values at or below it):
// sorted[ceil(p/100 * n) - 1], p in (0, 100]; p = 0 gives the minimum. `sorted` ascending,
// non-empty.
double Percentile(const std::vector<double>& sorted, double p);

// NaN: a statistic of nothing (no successful request, an empty cell) is undefined, not 0; the
// reports write it as null (JSON), empty (CSV) or n/a (text).
inline constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();

// Latency summary in seconds. count = 0: every other field is kUndefined.
struct LatencySummary {
  int64_t count = 0;
  double min = kUndefined, mean = kUndefined, p50 = kUndefined, p90 = kUndefined, p95 = kUndefined, p99 = kUndefined,
         max = kUndefined;
};
LatencySummary Summarize(std::vector<double> latencies_s);

// Correct / total answers of one cell (clean, or one corruption at one severity). accuracy()
// and error() are kUndefined for an empty cell (every request of it failed).
struct Cell {
  int64_t correct = 0, total = 0;
  double accuracy() const {
    return total == 0 ? kUndefined : static_cast<double>(correct) / static_cast<double>(total);
  }
  double error() const { return 1.0 - accuracy(); }
};

// Accuracy grid of one model: cells[c][s] for corruptions[c] at severities[s].
struct AccuracyTable {
  Cell clean;
  std::vector<std::string> corruptions;
  std::vector<int> severities;
  std::vector<std::vector<Cell>> cells;

  // Mean accuracy of corruption c over the severities (kUndefined if any cell is).
  double CorruptionAccuracy(size_t c) const;
  // Mean over all corruption x severity cells ("mean corruption accuracy"); nullopt if there are
  // none or any is undefined.
  std::optional<double> MeanCorruptionAccuracy() const;
};

// Corruption Error of `model` relative to `baseline` (Hendrycks & Dietterich 2019):
//   CE_c          = sum_s E_{s,c} / sum_s E^base_{s,c}
//   relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)
// E = top-1 error. nullopt where the denominator is 0 (or, for relative CE, <= 0: the baseline
// lost nothing under that corruption, so the ratio says nothing).
struct CorruptionErrors {
  std::vector<std::string> corruptions;  // same order as the tables
  std::vector<std::optional<double>> ce, relative_ce;
  // Means over the corruptions that belong to ImageNet-C's 15 (the published mCE), and over
  // all selected corruptions (extras included). nullopt if any term is undefined or none apply.
  std::optional<double> mce, relative_mce, mce_all, relative_mce_all;
};

// InvalidArgument-style message in `error` when the tables' corruptions or severities differ.
std::optional<CorruptionErrors> ComputeCorruptionErrors(const AccuracyTable& model, const AccuracyTable& baseline,
                                                        const std::vector<std::string>& imagenet_c_names,
                                                        std::string* error);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_STATS_H_
