// The loadgen report: one section per measured model, robustness metrics when a baseline was
// measured too; rendered as text (stdout), JSON and CSV. The JSON layout is documented in
// docs/loadgen.md and versioned by "format_version".
#ifndef WTSERVE_CLIENT_LOADGEN_REPORT_H_
#define WTSERVE_CLIENT_LOADGEN_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/loadgen/paired_stats.h"
#include "client/loadgen/runner.h"
#include "client/loadgen/stats.h"
#include "client/loadgen/workload.h"

namespace wtserve::loadgen {

inline constexpr int kReportFormatVersion = 1;

// What was run, echoed into the report.
struct RunConfig {
  std::string target, model, model_version, baseline_model, baseline_version;
  std::string transport, arrival, input, data, data_path;
  int concurrency = 1;
  double rate = 0;  // 0: closed loop
  int64_t batch_size = 1, warmup_requests = 0, max_requests = 0;
  double duration_s = 0;
  bool single_pass = true;
  int64_t images = 0;  // distinct source images
  std::vector<std::string> corruptions;
  std::vector<int> severities;
  uint64_t seed = 0;
  double fp32_scale = 0;
  std::string server_name, server_version, started_at_utc;
};

struct ModelReport {
  // version: the one that answered (echoed by the server), else the requested one.
  std::string model, version, role;  // role: "model" or "baseline"
  RunResult run;
  LatencySummary latency;  // seconds
  // Labelled data only: accuracy over the first answer of every item.
  std::optional<AccuracyTable> accuracy;
  int64_t unanswered = 0;  // items without an answer (failed requests, bounded runs)
};

struct Report {
  RunConfig config;
  std::vector<ModelReport> models;
  std::optional<CorruptionErrors> corruption_errors;  // model relative to baseline
  // Paired bootstrap intervals and McNemar's test, when a labelled baseline was measured on the
  // same items in a single pass (and --bootstrap_replicates > 0).
  std::optional<PairedStatistics> paired;
};

// The accuracy grid from a workload and the answers. unanswered items are not counted.
AccuracyTable BuildAccuracyTable(const Workload& workload, const std::vector<int64_t>& predictions,
                                 int64_t* unanswered);

ModelReport MakeModelReport(const std::string& model, const std::string& version, const std::string& role,
                            const Workload& workload, RunResult run);

std::string RenderText(const Report& report);
// The report as JSON (docs/loadgen.md "JSON report"), written with nlohmann::json: keys in a
// fixed order, two-space indents, numbers in shortest round-trip form, NaN/inf as null.
std::string RenderJson(const Report& report);
// Long format, one row per model x condition: model,role,corruption,group,severity,correct,total,
// accuracy,ce,relative_ce,accuracy_low,accuracy_high,ce_low,ce_high,relative_ce_low,
// relative_ce_high. Clean rows have corruption "clean", severity 0; one row per corruption with
// severity "mean" carries the mean accuracy and (for the model) CE values. With paired
// statistics, *_low/*_high are the bootstrap interval's ends and rows of role "difference"
// (model "<model>-<baseline>") carry accuracy differences (model - baseline) and their
// intervals.
std::string RenderCsv(const Report& report);

// Shortest text that reads back as exactly `value` ("0.1", "1e-07"); "" (an empty CSV cell) for
// NaN and ±inf.
std::string FormatDouble(double value);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_REPORT_H_
