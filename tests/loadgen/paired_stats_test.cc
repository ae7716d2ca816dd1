// Paired bootstrap and McNemar's test on synthetic answers whose statistics are known in closed
// form.
#include "client/loadgen/paired_stats.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/loadgen/report.h"

namespace wtserve::loadgen {
namespace {
using ::testing::HasSubstr;

// A grid of one clean condition and `corrupted` fog conditions at severities 1, 2, ...
OutcomeGrid Grid(std::vector<std::vector<int8_t>> outcome) {
  OutcomeGrid g;
  g.images = static_cast<int64_t>(outcome[0].size());
  g.conditions.push_back({"", 0});
  g.cell_of.push_back(-1);
  for (size_t k = 1; k < outcome.size(); ++k) {
    g.conditions.push_back({"fog", static_cast<int>(k)});
    g.severities.push_back(static_cast<int>(k));
    g.cell_of.push_back(static_cast<int64_t>(k - 1));
  }
  if (outcome.size() > 1) g.corruptions = {"fog"};
  g.outcome = std::move(outcome);
  return g;
}

// n answers, the first `correct` of them right.
std::vector<int8_t> Answers(int n, int correct) {
  std::vector<int8_t> v(static_cast<size_t>(n), 0);
  for (int i = 0; i < correct; ++i) v[static_cast<size_t>(i)] = 1;
  return v;
}

TEST(McNemarTest, ExactBinomialTails) {
  EXPECT_EQ(McNemarExact(0, 0).p_value, 1.0);
  EXPECT_EQ(McNemarExact(5, 5).p_value, 1.0);                   // 2 * P[X <= 5] > 1, capped
  EXPECT_NEAR(McNemarExact(1, 9).p_value, 22.0 / 1024, 1e-15);  // 2 * (1 + 10) / 2^10
  EXPECT_NEAR(McNemarExact(9, 1).p_value, 22.0 / 1024, 1e-15);  // symmetric
  EXPECT_NEAR(McNemarExact(0, 10).p_value, 2.0 / 1024, 1e-15);
  // n = 20, k <= 5: (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20, doubled.
  EXPECT_NEAR(McNemarExact(15, 5).p_value, 2.0 * 21700 / 1048576, 1e-14);
  // Large n stays finite (log space): 4500 vs 5500 is ~10 standard deviations apart.
  const double p = McNemarExact(4500, 5500).p_value;
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, 1e-20);
}

TEST(PairedBootstrapTest, IdenticalModelsHaveZeroWidthDifferences) {
  const OutcomeGrid a = Grid({Answers(500, 450), Answers(500, 300), Answers(500, 200)});
  absl::StatusOr<PairedStatistics> p = ComputePairedStatistics(a, a, {"fog"}, {});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->difference.clean.low, 0.0);
  EXPECT_EQ(p->difference.clean.high, 0.0);
  EXPECT_EQ(p->difference.mean_corruption.low, 0.0);
  EXPECT_EQ(p->difference.cells[0][1].high, 0.0);
  EXPECT_DOUBLE_EQ(p->ce[0].low, 1.0);
  EXPECT_DOUBLE_EQ(p->ce[0].high, 1.0);
  EXPECT_DOUBLE_EQ(p->mce.low, 1.0);
  ASSERT_TRUE(p->clean_mcnemar.has_value());
  EXPECT_EQ(p->clean_mcnemar->model_only, 0);
  EXPECT_EQ(p->clean_mcnemar->p_value, 1.0);
  // Each model's own interval has the binomial width, not zero.
  EXPECT_LT(p->model.clean.low, 0.9);
  EXPECT_GT(p->model.clean.high, 0.9);
}

TEST(PairedBootstrapTest, AccuracyIntervalHasTheBinomialWidth) {
  // p = 0.9 on n = 2000: the 95% interval is about p +- 1.96 sqrt(p (1 - p) / n) = +-0.01315.
  const OutcomeGrid a = Grid({Answers(2000, 1800)});
  const OutcomeGrid b = Grid({Answers(2000, 1000)});
  absl::StatusOr<PairedStatistics> p = ComputePairedStatistics(a, b, {}, {});
  ASSERT_TRUE(p.ok()) << p.status();
  const double half = 1.96 * std::sqrt(0.9 * 0.1 / 2000);
  EXPECT_NEAR(0.9 - p->model.clean.low, half, 0.15 * half);
  EXPECT_NEAR(p->model.clean.high - 0.9, half, 0.15 * half);
  EXPECT_TRUE(p->ce.empty());
  EXPECT_FALSE(p->mce.defined());
}

TEST(PairedBootstrapTest, DifferencesArePairedNotIndependent) {
  // 1000 images: both right on 860, only the model on 60, only the baseline on 20, both wrong on
  // 60. Paired SE of the difference = sqrt(((b + c) / n - ((b - c) / n)^2) / n) = 0.00885; an
  // unpaired resample of two ~90% accuracies would give sqrt(2 * 0.09 / n) = 0.0134.
  std::vector<int8_t> model(1000, 0), baseline(1000, 0);
  for (int i = 0; i < 860; ++i) model[i] = baseline[i] = 1;
  for (int i = 860; i < 920; ++i) model[i] = 1;
  for (int i = 920; i < 940; ++i) baseline[i] = 1;
  absl::StatusOr<PairedStatistics> p = ComputePairedStatistics(Grid({model}), Grid({baseline}), {}, {});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NEAR(p->difference_estimate.clean, 0.04, 1e-12);
  const double half = 1.96 * std::sqrt((0.08 - 0.04 * 0.04) / 1000);
  EXPECT_NEAR(0.04 - p->difference.clean.low, half, 0.15 * half);
  EXPECT_NEAR(p->difference.clean.high - 0.04, half, 0.15 * half);
  EXPECT_GT(p->difference.clean.low, 0.0);  // a real difference: the interval excludes 0
  EXPECT_EQ(p->clean_mcnemar->model_only, 60);
  EXPECT_EQ(p->clean_mcnemar->baseline_only, 20);
  EXPECT_LT(p->clean_mcnemar->p_value, 1e-4);
}

TEST(PairedBootstrapTest, CorruptionErrorIntervalCoversItsPointAndIsSeeded) {
  const OutcomeGrid a = Grid({Answers(800, 720), Answers(800, 600), Answers(800, 500)});
  const OutcomeGrid b = Grid({Answers(800, 700), Answers(800, 560), Answers(800, 420)});
  BootstrapOptions options;
  options.replicates = 500;
  absl::StatusOr<PairedStatistics> p = ComputePairedStatistics(a, b, {"fog"}, options);
  ASSERT_TRUE(p.ok()) << p.status();
  const double ce = (200.0 + 300.0) / (240.0 + 380.0);  // sum of errors, model over baseline
  EXPECT_LT(p->ce[0].low, ce);
  EXPECT_GT(p->ce[0].high, ce);
  EXPECT_DOUBLE_EQ(p->mce.low, p->ce[0].low);    // one ImageNet-C corruption: mCE = its CE
  EXPECT_DOUBLE_EQ(p->mce_all.low, p->mce.low);  // fog is also all that was selected
  absl::StatusOr<PairedStatistics> again = ComputePairedStatistics(a, b, {"fog"}, options);
  EXPECT_EQ(again->ce[0].low, p->ce[0].low);
  options.seed = 1;
  absl::StatusOr<PairedStatistics> other = ComputePairedStatistics(a, b, {"fog"}, options);
  EXPECT_NE(other->ce[0].low, p->ce[0].low);
}

TEST(PairedBootstrapTest, UnansweredImagesCountNowhere) {
  std::vector<int8_t> model = Answers(10, 10), baseline = Answers(10, 5);
  model[0] = -1;     // the model never answered image 0
  baseline[9] = -1;  // the baseline never answered image 9
  const AccuracyTable table = WeightedAccuracyTable(Grid({model}), {});
  EXPECT_EQ(table.clean.total, 9);
  EXPECT_EQ(table.clean.correct, 9);
  absl::StatusOr<PairedStatistics> p = ComputePairedStatistics(Grid({model}), Grid({baseline}), {}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->clean_mcnemar->model_only, 4);  // images 5..8: right for the model only
  EXPECT_EQ(p->clean_mcnemar->baseline_only, 0);
  EXPECT_EQ(p->model.clean.low, 1.0);  // every answer right in every resample
}

TEST(PairedBootstrapTest, RefusesGridsOfDifferentWorkloads) {
  const OutcomeGrid a = Grid({Answers(10, 5)}), b = Grid({Answers(11, 5)});
  EXPECT_EQ(ComputePairedStatistics(a, b, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  BootstrapOptions one;
  one.replicates = 1;
  EXPECT_EQ(ComputePairedStatistics(a, a, {}, one).status().code(), absl::StatusCode::kInvalidArgument);
  BootstrapOptions full;
  full.confidence = 1.0;
  EXPECT_EQ(ComputePairedStatistics(a, a, {}, full).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PairedBootstrapTest, OutcomeGridFollowsTheWorkloadLayout) {
  Workload w;
  w.class_names = {"a", "b"};
  w.conditions = {{"", 0}, {"fog", 2}, {"fog", 1}};  // severities out of order on purpose
  const int images = 3;
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < images; ++i) {
      w.payload.push_back("x");
      w.labels.push_back(i % 2);
      w.condition_of.push_back(c);
    }
  }
  // Right, right, wrong (clean); wrong, unanswered, right (fog 2); right x3 (fog 1).
  const std::vector<int64_t> predictions = {0, 1, 1, 1, -1, 0, 0, 1, 0};
  const OutcomeGrid g = BuildOutcomeGrid(w, predictions);
  EXPECT_EQ(g.images, 3);
  EXPECT_EQ(g.severities, (std::vector<int>{1, 2}));
  EXPECT_EQ(g.outcome[1], (std::vector<int8_t>{0, -1, 1}));
  int64_t unanswered = 0;
  const AccuracyTable direct = BuildAccuracyTable(w, predictions, &unanswered);
  const AccuracyTable from_grid = WeightedAccuracyTable(g, {});
  EXPECT_EQ(from_grid.clean.correct, direct.clean.correct);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(from_grid.cells[0][s].correct, direct.cells[0][s].correct);
    EXPECT_EQ(from_grid.cells[0][s].total, direct.cells[0][s].total);
  }
  EXPECT_EQ(from_grid.cells[0][1].total, 2);  // fog severity 2 lost one answer
}

TEST(PairedReportTest, TextJsonAndCsvCarryTheIntervals) {
  Report report;
  report.config.corruptions = {"fog"};
  report.config.severities = {1};
  const OutcomeGrid a = Grid({Answers(400, 360), Answers(400, 300)});
  const OutcomeGrid b = Grid({Answers(400, 340), Answers(400, 250)});
  for (const OutcomeGrid* g : {&a, &b}) {
    ModelReport m;
    m.model = g == &a ? "wt" : "base";
    m.role = g == &a ? "model" : "baseline";
    m.accuracy = WeightedAccuracyTable(*g, {});
    report.models.push_back(std::move(m));
  }
  std::string error;
  report.corruption_errors =
      ComputeCorruptionErrors(*report.models[0].accuracy, *report.models[1].accuracy, {"fog"}, &error);
  report.paired = *ComputePairedStatistics(a, b, {"fog"}, {});
  const std::string text = RenderText(report);
  EXPECT_THAT(text, HasSubstr("95% bootstrap intervals (2000 resamples"));
  EXPECT_THAT(text, HasSubstr("difference +5.00 ["));
  EXPECT_THAT(text, HasSubstr("McNemar exact test (clean): 20 images right only for the model, 0 only"));
  const nlohmann::json json = nlohmann::json::parse(RenderJson(report));
  const nlohmann::json& p = json["paired_statistics"];
  EXPECT_EQ(p["replicates"], 2000);
  EXPECT_NEAR(p["difference"]["clean"]["estimate"].get<double>(), 0.05, 1e-12);
  EXPECT_LT(p["model"]["clean"]["low"].get<double>(), 0.9);
  EXPECT_EQ(p["corruption_errors"][0]["name"], "fog");
  EXPECT_EQ(p["clean_mcnemar_exact"]["model_only"], 20);
  const std::string csv = RenderCsv(report);
  EXPECT_THAT(csv, HasSubstr("wt-base,difference,clean,clean,0,,,0.0500000"));
  // Every row has the header's 16 columns.
  size_t start = 0;
  while (start < csv.size()) {
    const size_t end = csv.find('\n', start);
    const std::string row = csv.substr(start, end - start);
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), 15) << row;
    start = end + 1;
  }
}

}  // namespace
}  // namespace wtserve::loadgen
