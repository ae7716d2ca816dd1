#include "client/loadgen/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/corrupt/corruptions.h"

namespace wtserve::loadgen {

AccuracyTable BuildAccuracyTable(const Workload& w, const std::vector<int64_t>& predictions, int64_t* unanswered) {
  AccuracyTable table;
  std::map<std::string, size_t> row;
  std::vector<int> severities;
  for (const Condition& c : w.conditions) {
    if (c.corruption.empty()) continue;
    if (row.emplace(c.corruption, table.corruptions.size()).second) table.corruptions.push_back(c.corruption);
    if (std::find(severities.begin(), severities.end(), c.severity) == severities.end()) severities.push_back(c.severity);
  }
  std::sort(severities.begin(), severities.end());
  table.severities = severities;
  table.cells.assign(table.corruptions.size(), std::vector<Cell>(severities.size()));
  *unanswered = 0;
  for (size_t item = 0; item < predictions.size(); ++item) {
    if (predictions[item] < 0) {
      ++*unanswered;
      continue;
    }
    const Condition& c = w.conditions[static_cast<size_t>(w.condition_of[item])];
    Cell* cell = &table.clean;
    if (!c.corruption.empty()) {
      const size_t s = static_cast<size_t>(std::find(severities.begin(), severities.end(), c.severity) - severities.begin());
      cell = &table.cells[row[c.corruption]][s];
    }
    ++cell->total;
    if (predictions[item] == w.labels[item]) ++cell->correct;
  }
  return table;
}

ModelReport MakeModelReport(const std::string& model, const std::string& version, const std::string& role,
                            const Workload& workload, RunResult run) {
  ModelReport r;
  r.model = model;
  r.version = run.model_version.empty() ? version : run.model_version;
  r.role = role;
  r.latency = Summarize(run.latencies_s);
  if (workload.labelled()) {
    r.accuracy = BuildAccuracyTable(workload, run.predictions, &r.unanswered);
  } else {
    r.unanswered = std::count(run.predictions.begin(), run.predictions.end(), -1);
  }
  r.run = std::move(run);
  return r;
}

namespace {

double PerSecond(int64_t count, double seconds) { return seconds > 0 ? static_cast<double>(count) / seconds : 0.0; }

std::string Pct(double fraction) {
  return std::isnan(fraction) ? "n/a" : absl::StrFormat("%.2f", 100.0 * fraction);
}
std::string PctOr(const std::optional<double>& v) { return v ? absl::StrFormat("%.1f%%", 100.0 * *v) : "n/a"; }

}  // namespace

std::string RenderText(const Report& report) {
  const RunConfig& c = report.config;
  std::string out;
  for (const ModelReport& m : report.models) {
    const RunResult& r = m.run;
    absl::StrAppend(&out, "== ", m.model, m.version.empty() ? "" : " version " + m.version,
                    m.role == "baseline" ? " (baseline)" : "", " at ", c.target, "\n");
    absl::StrAppend(&out, "   ", c.transport, ", ",
                    c.rate > 0 ? absl::StrFormat("open loop %.1f req/s (%s)", c.rate, c.arrival)
                               : absl::StrCat("closed loop, concurrency ", c.concurrency),
                    ", batch ", c.batch_size, ", input ", c.input, "\n");
    absl::StrAppend(&out, absl::StrFormat("   requests: %d sent, %d ok, %d failed; images: %d sent, %d ok\n",
                                          r.requests_sent, r.requests_ok, r.requests_failed, r.images_sent,
                                          r.images_ok));
    absl::StrAppend(&out, absl::StrFormat("   throughput: %.1f requests/s, %.1f images/s over %.3f s\n",
                                          PerSecond(r.requests_ok, r.elapsed_s), PerSecond(r.images_ok, r.elapsed_s),
                                          r.elapsed_s));
    const LatencySummary& l = m.latency;
    if (l.count == 0) {
      absl::StrAppend(&out, "   latency ms: n/a (no successful request)\n");
    } else {
      absl::StrAppend(&out, absl::StrFormat("   latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  max %.3f\n",
                                            1e3 * l.min, 1e3 * l.mean, 1e3 * l.p50, 1e3 * l.p90, 1e3 * l.p95,
                                            1e3 * l.p99, 1e3 * l.max));
    }
    std::vector<std::string> codes;
    for (const auto& [code, n] : r.status_counts) codes.push_back(absl::StrCat(code, " ", n));
    absl::StrAppend(&out, "   status codes: ", absl::StrJoin(codes, ", "), "\n");
    for (const auto& [code, message] : r.first_message) absl::StrAppend(&out, "   first ", code, ": ", message, "\n");
    if (m.accuracy) {
      const AccuracyTable& a = *m.accuracy;
      absl::StrAppend(&out, absl::StrFormat("   accuracy: clean %s%s (%d/%d)", Pct(a.clean.accuracy()),
                                            a.clean.total > 0 ? "%" : "", a.clean.correct,
                                            a.clean.total));
      if (auto mean = a.MeanCorruptionAccuracy()) absl::StrAppend(&out, ", mean corruption accuracy ", Pct(*mean), "%");
      if (m.unanswered > 0) absl::StrAppend(&out, "  [", m.unanswered, " items unanswered]");
      out += "\n";
      if (!a.corruptions.empty()) {
        absl::StrAppend(&out, absl::StrFormat("   %-18s %-8s", "accuracy %", "group"));
        for (int s : a.severities) absl::StrAppend(&out, absl::StrFormat(" %6s", absl::StrCat("s", s)));
        absl::StrAppend(&out, absl::StrFormat(" %6s\n", "mean"));
        for (size_t i = 0; i < a.corruptions.size(); ++i) {
          absl::StrAppend(&out, absl::StrFormat("   %-18s %-8s", a.corruptions[i], corrupt::GroupOf(a.corruptions[i])));
          for (const Cell& cell : a.cells[i]) absl::StrAppend(&out, absl::StrFormat(" %6s", Pct(cell.accuracy())));
          absl::StrAppend(&out, absl::StrFormat(" %6s\n", Pct(a.CorruptionAccuracy(i))));
        }
      }
    }
  }
  if (report.corruption_errors && report.models.size() == 2) {
    const CorruptionErrors& e = *report.corruption_errors;
    const auto name = [](const ModelReport& m) { return m.version.empty() ? m.model : absl::StrCat(m.model, " v", m.version); };
    absl::StrAppend(&out, "== corruption error of ", name(report.models[0]), " relative to ", name(report.models[1]),
                    " (100% = as robust as the baseline; lower is better)\n");
    absl::StrAppend(&out, "   mCE ", PctOr(e.mce), ", relative mCE ", PctOr(e.relative_mce),
                    " (ImageNet-C corruptions); over all selected: mCE ", PctOr(e.mce_all), ", relative mCE ",
                    PctOr(e.relative_mce_all), "\n");
    for (size_t i = 0; i < e.corruptions.size(); ++i) {
      absl::StrAppend(&out, absl::StrFormat("   %-18s CE %8s  relative CE %8s\n", e.corruptions[i], PctOr(e.ce[i]),
                                            PctOr(e.relative_ce[i])));
    }
  }
  return out;
}

namespace {

using Json = nlohmann::ordered_json;  // keys in the order written, like the format's docs

// NaN and ±inf have no JSON form: null, as nlohmann::json writes them too.
Json Number(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }
Json Number(const std::optional<double>& value) { return value ? Number(*value) : Json(nullptr); }

Json CellJson(const Cell& cell) {
  return Json{{"correct", cell.correct}, {"total", cell.total}, {"accuracy", Number(cell.accuracy())}};
}

Json ConfigJson(const RunConfig& c) {
  return Json{{"target", c.target},
              {"model", c.model},
              {"model_version", c.model_version},
              {"baseline_model", c.baseline_model},
              {"baseline_version", c.baseline_version},
              {"transport", c.transport},
              {"mode", c.rate > 0 ? "open_loop" : "closed_loop"},
              {"concurrency", c.concurrency},
              {"rate", Number(c.rate)},
              {"arrival", c.arrival},
              {"batch_size", c.batch_size},
              {"input", c.input},
              {"data", c.data},
              {"data_path", c.data_path},
              {"images", c.images},
              {"single_pass", c.single_pass},
              {"max_requests", c.max_requests},
              {"duration_s", Number(c.duration_s)},
              {"warmup_requests", c.warmup_requests},
              {"corruptions", c.corruptions},
              {"severities", c.severities},
              {"seed", c.seed},
              {"fp32_scale", Number(c.fp32_scale)},
              {"server_name", c.server_name},
              {"server_version", c.server_version},
              {"started_at_utc", c.started_at_utc}};
}

Json AccuracyJson(const AccuracyTable& a, bool complete) {
  Json corruptions = Json::array();
  for (size_t i = 0; i < a.corruptions.size(); ++i) {
    Json severities = Json::array();
    for (size_t s = 0; s < a.severities.size(); ++s) {
      const Cell& cell = a.cells[i][s];
      severities.push_back(Json{{"severity", a.severities[s]},
                                {"correct", cell.correct},
                                {"total", cell.total},
                                {"accuracy", Number(cell.accuracy())}});
    }
    corruptions.push_back(Json{{"name", a.corruptions[i]},
                               {"group", std::string(corrupt::GroupOf(a.corruptions[i]))},
                               {"mean_accuracy", Number(a.CorruptionAccuracy(i))},
                               {"severities", std::move(severities)}});
  }
  return Json{{"complete", complete},
              {"clean", CellJson(a.clean)},
              {"mean_corruption_accuracy", Number(a.MeanCorruptionAccuracy())},
              {"corruptions", std::move(corruptions)}};
}

Json ModelJson(const ModelReport& m) {
  const RunResult& r = m.run;
  const LatencySummary& l = m.latency;
  Json latencies = Json::array();  // every successful request, in completion order, for plots
  for (double s : r.latencies_s) latencies.push_back(Number(1e3 * s));
  Json status_codes = Json::object();
  for (const auto& [code, n] : r.status_counts) status_codes[code] = n;
  Json error_messages = Json::object();
  for (const auto& [code, message] : r.first_message) error_messages[code] = message;
  return Json{
      {"model", m.model},
      {"version", m.version},
      {"role", m.role},
      {"requests", {{"sent", r.requests_sent}, {"ok", r.requests_ok}, {"failed", r.requests_failed}}},
      {"images", {{"sent", r.images_sent}, {"ok", r.images_ok}, {"unanswered_items", m.unanswered}}},
      {"elapsed_s", Number(r.elapsed_s)},
      {"requests_per_s", Number(PerSecond(r.requests_ok, r.elapsed_s))},
      {"images_per_s", Number(PerSecond(r.images_ok, r.elapsed_s))},
      {"latency_ms",
       {{"count", l.count},
        {"min", Number(1e3 * l.min)},
        {"mean", Number(1e3 * l.mean)},
        {"p50", Number(1e3 * l.p50)},
        {"p90", Number(1e3 * l.p90)},
        {"p95", Number(1e3 * l.p95)},
        {"p99", Number(1e3 * l.p99)},
        {"max", Number(1e3 * l.max)}}},
      {"status_codes", std::move(status_codes)},
      {"error_messages", std::move(error_messages)},
      {"latencies_ms", std::move(latencies)},
      {"accuracy", m.accuracy ? AccuracyJson(*m.accuracy, m.unanswered == 0) : Json(nullptr)}};
}

Json CorruptionErrorsJson(const Report& report) {
  if (!report.corruption_errors || report.models.size() != 2) return nullptr;
  const CorruptionErrors& e = *report.corruption_errors;
  Json corruptions = Json::array();
  for (size_t i = 0; i < e.corruptions.size(); ++i) {
    corruptions.push_back(
        Json{{"name", e.corruptions[i]}, {"ce", Number(e.ce[i])}, {"relative_ce", Number(e.relative_ce[i])}});
  }
  return Json{{"model", report.models[0].model},
              {"baseline", report.models[1].model},
              {"mce", Number(e.mce)},
              {"relative_mce", Number(e.relative_mce)},
              {"mce_all", Number(e.mce_all)},
              {"relative_mce_all", Number(e.relative_mce_all)},
              {"corruptions", std::move(corruptions)}};
}

}  // namespace

std::string FormatDouble(double value) {
  if (!std::isfinite(value)) return "";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string RenderJson(const Report& report) {
  Json models = Json::array();
  for (const ModelReport& m : report.models) models.push_back(ModelJson(m));
  const Json document{{"format_version", kReportFormatVersion},
                      {"tool", "wtserve-loadgen"},
                      {"config", ConfigJson(report.config)},
                      {"models", std::move(models)},
                      {"corruption_errors", CorruptionErrorsJson(report)}};
  return document.dump(2) + "\n";
}

std::string RenderCsv(const Report& report) {
  std::string out = "model,role,corruption,group,severity,correct,total,accuracy,ce,relative_ce\n";
  for (const ModelReport& m : report.models) {
    if (!m.accuracy) continue;
    const AccuracyTable& a = *m.accuracy;
    absl::StrAppend(&out, m.model, ",", m.role, ",clean,clean,0,", a.clean.correct, ",", a.clean.total, ",",
                    FormatDouble(a.clean.accuracy()), ",,\n");
    const bool with_ce = report.corruption_errors && m.role == "model";
    for (size_t i = 0; i < a.corruptions.size(); ++i) {
      const std::string group(corrupt::GroupOf(a.corruptions[i]));
      for (size_t s = 0; s < a.severities.size(); ++s) {
        const Cell& cell = a.cells[i][s];
        absl::StrAppend(&out, m.model, ",", m.role, ",", a.corruptions[i], ",", group, ",", a.severities[s], ",",
                        cell.correct, ",", cell.total, ",", FormatDouble(cell.accuracy()), ",,\n");
      }
      std::string ce, relative_ce;
      if (with_ce && report.corruption_errors->ce[i]) ce = FormatDouble(*report.corruption_errors->ce[i]);
      if (with_ce && report.corruption_errors->relative_ce[i]) {
        relative_ce = FormatDouble(*report.corruption_errors->relative_ce[i]);
      }
      absl::StrAppend(&out, m.model, ",", m.role, ",", a.corruptions[i], ",", group, ",mean,,,",
                      FormatDouble(a.CorruptionAccuracy(i)), ",", ce, ",", relative_ce, "\n");
    }
  }
  return out;
}

}  // namespace wtserve::loadgen
