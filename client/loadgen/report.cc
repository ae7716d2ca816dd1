#include "client/loadgen/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
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
    if (std::find(severities.begin(), severities.end(), c.severity) == severities.end())
      severities.push_back(c.severity);
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
      const size_t s =
          static_cast<size_t>(std::find(severities.begin(), severities.end(), c.severity) - severities.begin());
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

std::string Pct(double fraction) { return std::isnan(fraction) ? "n/a" : absl::StrFormat("%.2f", 100.0 * fraction); }
std::string PctOr(const std::optional<double>& v) { return v ? absl::StrFormat("%.1f%%", 100.0 * *v) : "n/a"; }

// " [low, high]" in percent; "" without an interval (no paired statistics); " [n/a]" when the
// statistic is undefined in some resample (a relative CE whose baseline lost nothing there).
std::string IntervalText(const Interval* i, int decimals) {
  if (i == nullptr) return "";
  if (!i->defined()) return " [n/a]";
  return absl::StrFormat(" [%.*f, %.*f]", decimals, 100.0 * i->low, decimals, 100.0 * i->high);
}
// A model - baseline accuracy difference in percentage points, signed, with its interval.
std::string DifferenceText(double d, const Interval& i) {
  if (std::isnan(d)) return "n/a";
  std::string text = absl::StrFormat("%+.2f", 100.0 * d);
  if (i.defined()) absl::StrAppend(&text, absl::StrFormat(" [%+.2f, %+.2f]", 100.0 * i.low, 100.0 * i.high));
  return text + " points";
}

std::string ModelName(const ModelReport& m) {
  return m.version.empty() ? m.model : absl::StrCat(m.model, " v", m.version);
}

void AppendPairedSummary(const Report& report, std::string* out) {
  const PairedStatistics& p = *report.paired;
  const ModelReport &model = report.models[0], &baseline = report.models[1];
  const AccuracyTable &a = *model.accuracy, &b = *baseline.accuracy;
  absl::StrAppend(out, "== paired comparison of ", ModelName(model), " and ", ModelName(baseline), " on the same ",
                  p.images, " images: ", absl::StrFormat("%g", 100.0 * p.options.confidence), "% bootstrap intervals (",
                  p.options.replicates, " resamples of the images, seed ", p.options.seed, ")\n");
  absl::StrAppend(out, "   clean accuracy: model ", Pct(a.clean.accuracy()), "%", IntervalText(&p.model.clean, 2),
                  ", baseline ", Pct(b.clean.accuracy()), "%", IntervalText(&p.baseline.clean, 2), "; difference ",
                  DifferenceText(p.difference_estimate.clean, p.difference.clean), "\n");
  if (p.clean_mcnemar) {
    absl::StrAppend(
        out, absl::StrFormat("   McNemar exact test (clean): %d images right only for the model, %d only "
                             "for the baseline; two-sided p = %.3g\n",
                             p.clean_mcnemar->model_only, p.clean_mcnemar->baseline_only, p.clean_mcnemar->p_value));
  }
  if (!a.corruptions.empty()) {
    const std::optional<double> ma = a.MeanCorruptionAccuracy(), mb = b.MeanCorruptionAccuracy();
    absl::StrAppend(out, "   mean corruption accuracy: model ", ma ? Pct(*ma) + "%" : "n/a",
                    IntervalText(&p.model.mean_corruption, 2), ", baseline ", mb ? Pct(*mb) + "%" : "n/a",
                    IntervalText(&p.baseline.mean_corruption, 2), "; difference ",
                    DifferenceText(p.difference_estimate.mean_corruption, p.difference.mean_corruption), "\n");
  }
}

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
    absl::StrAppend(&out,
                    absl::StrFormat("   requests: %d sent, %d ok, %d failed; images: %d sent, %d ok\n", r.requests_sent,
                                    r.requests_ok, r.requests_failed, r.images_sent, r.images_ok));
    absl::StrAppend(
        &out, absl::StrFormat("   throughput: %.1f requests/s, %.1f images/s over %.3f s\n",
                              PerSecond(r.requests_ok, r.elapsed_s), PerSecond(r.images_ok, r.elapsed_s), r.elapsed_s));
    const LatencySummary& l = m.latency;
    if (l.count == 0) {
      absl::StrAppend(&out, "   latency ms: n/a (no successful request)\n");
    } else {
      absl::StrAppend(
          &out,
          absl::StrFormat("   latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  max %.3f\n",
                          1e3 * l.min, 1e3 * l.mean, 1e3 * l.p50, 1e3 * l.p90, 1e3 * l.p95, 1e3 * l.p99, 1e3 * l.max));
    }
    std::vector<std::string> codes;
    for (const auto& [code, n] : r.status_counts) codes.push_back(absl::StrCat(code, " ", n));
    absl::StrAppend(&out, "   status codes: ", absl::StrJoin(codes, ", "), "\n");
    for (const auto& [code, message] : r.first_message) absl::StrAppend(&out, "   first ", code, ": ", message, "\n");
    if (m.accuracy) {
      const AccuracyTable& a = *m.accuracy;
      absl::StrAppend(&out, absl::StrFormat("   accuracy: clean %s%s (%d/%d)", Pct(a.clean.accuracy()),
                                            a.clean.total > 0 ? "%" : "", a.clean.correct, a.clean.total));
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
  const PairedStatistics* paired = report.paired && report.models.size() == 2 ? &*report.paired : nullptr;
  if (paired != nullptr) AppendPairedSummary(report, &out);
  if (report.corruption_errors && report.models.size() == 2) {
    const CorruptionErrors& e = *report.corruption_errors;
    absl::StrAppend(&out, "== corruption error of ", ModelName(report.models[0]), " relative to ",
                    ModelName(report.models[1]), " (100% = as robust as the baseline; lower is better)\n");
    absl::StrAppend(&out, "   mCE ", PctOr(e.mce), IntervalText(paired ? &paired->mce : nullptr, 1), ", relative mCE ",
                    PctOr(e.relative_mce), IntervalText(paired ? &paired->relative_mce : nullptr, 1),
                    " (ImageNet-C corruptions); over all selected: mCE ", PctOr(e.mce_all),
                    IntervalText(paired ? &paired->mce_all : nullptr, 1), ", relative mCE ", PctOr(e.relative_mce_all),
                    IntervalText(paired ? &paired->relative_mce_all : nullptr, 1), "\n");
    for (size_t i = 0; i < e.corruptions.size(); ++i) {
      std::string line = absl::StrFormat("   %-18s CE %6s%-16s relative CE %6s%-16s", e.corruptions[i], PctOr(e.ce[i]),
                                         IntervalText(paired ? &paired->ce[i] : nullptr, 1), PctOr(e.relative_ce[i]),
                                         IntervalText(paired ? &paired->relative_ce[i] : nullptr, 1));
      if (paired != nullptr) {
        absl::StrAppend(&line, " accuracy difference ",
                        DifferenceText(paired->difference_estimate.corruption[i], paired->difference.corruption[i]));
      }
      absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
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
  return Json{{"model", m.model},
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

Json IntervalJson(const Interval& i, double estimate = kUndefined, bool with_estimate = false) {
  Json j = Json::object();
  if (with_estimate) j["estimate"] = Number(estimate);
  j["low"] = Number(i.low);
  j["high"] = Number(i.high);
  return j;
}

// estimate: the point differences (difference intervals only), else the intervals alone.
Json AccuracyIntervalsJson(const AccuracyIntervals& i, const std::vector<std::string>& corruptions,
                           const std::vector<int>& severities, const AccuracyDifferences* estimate) {
  const bool e = estimate != nullptr;
  Json rows = Json::array();
  for (size_t c = 0; c < corruptions.size(); ++c) {
    Json cells = Json::array();
    for (size_t s = 0; s < severities.size(); ++s) {
      Json cell = IntervalJson(i.cells[c][s], e ? estimate->cells[c][s] : kUndefined, e);
      cell["severity"] = severities[s];
      cells.push_back(std::move(cell));
    }
    rows.push_back(Json{{"name", corruptions[c]},
                        {"mean", IntervalJson(i.corruption[c], e ? estimate->corruption[c] : kUndefined, e)},
                        {"severities", std::move(cells)}});
  }
  return Json{{"clean", IntervalJson(i.clean, e ? estimate->clean : kUndefined, e)},
              {"mean_corruption", IntervalJson(i.mean_corruption, e ? estimate->mean_corruption : kUndefined, e)},
              {"corruptions", std::move(rows)}};
}

Json PairedStatisticsJson(const Report& report) {
  if (!report.paired || report.models.size() != 2) return nullptr;
  const PairedStatistics& p = *report.paired;
  const AccuracyTable& a = *report.models[0].accuracy;
  Json ce = Json::array();
  for (size_t c = 0; c < p.ce.size(); ++c) {
    ce.push_back(Json{
        {"name", a.corruptions[c]}, {"ce", IntervalJson(p.ce[c])}, {"relative_ce", IntervalJson(p.relative_ce[c])}});
  }
  Json mcnemar = nullptr;
  if (p.clean_mcnemar) {
    mcnemar = Json{{"model_only", p.clean_mcnemar->model_only},
                   {"baseline_only", p.clean_mcnemar->baseline_only},
                   {"p_value", Number(p.clean_mcnemar->p_value)}};
  }
  return Json{{"method",
               "paired percentile bootstrap: images resampled with replacement, the same draw for both "
               "models and every condition"},
              {"replicates", p.options.replicates},
              {"confidence", Number(p.options.confidence)},
              {"seed", p.options.seed},
              {"images", p.images},
              {"clean_mcnemar_exact", std::move(mcnemar)},
              {"model", AccuracyIntervalsJson(p.model, a.corruptions, a.severities, nullptr)},
              {"baseline", AccuracyIntervalsJson(p.baseline, a.corruptions, a.severities, nullptr)},
              {"difference", AccuracyIntervalsJson(p.difference, a.corruptions, a.severities, &p.difference_estimate)},
              {"mce", IntervalJson(p.mce)},
              {"relative_mce", IntervalJson(p.relative_mce)},
              {"mce_all", IntervalJson(p.mce_all)},
              {"relative_mce_all", IntervalJson(p.relative_mce_all)},
              {"corruption_errors", std::move(ce)}};
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
                      {"corruption_errors", CorruptionErrorsJson(report)},
                      {"paired_statistics", PairedStatisticsJson(report)}};
  return document.dump(2) + "\n";
}

namespace {

// ",low,high" of an interval, empty cells when undefined.
std::string CsvInterval(const Interval* i) {
  return i == nullptr ? ",," : absl::StrCat(",", FormatDouble(i->low), ",", FormatDouble(i->high));
}

}  // namespace

std::string RenderCsv(const Report& report) {
  std::string out =
      "model,role,corruption,group,severity,correct,total,accuracy,ce,relative_ce,accuracy_low,accuracy_high,"
      "ce_low,ce_high,relative_ce_low,relative_ce_high\n";
  const PairedStatistics* paired = report.paired && report.models.size() == 2 ? &*report.paired : nullptr;
  for (size_t index = 0; index < report.models.size(); ++index) {
    const ModelReport& m = report.models[index];
    if (!m.accuracy) continue;
    const AccuracyTable& a = *m.accuracy;
    const AccuracyIntervals* intervals = paired == nullptr ? nullptr : index == 0 ? &paired->model : &paired->baseline;
    const auto accuracy_interval = [&](const Interval& i) { return CsvInterval(intervals ? &i : nullptr); };
    absl::StrAppend(&out, m.model, ",", m.role, ",clean,clean,0,", a.clean.correct, ",", a.clean.total, ",",
                    FormatDouble(a.clean.accuracy()), ",,",
                    accuracy_interval(intervals ? intervals->clean : Interval{}), ",,,,\n");
    const bool with_ce = report.corruption_errors && m.role == "model";
    for (size_t i = 0; i < a.corruptions.size(); ++i) {
      const std::string group(corrupt::GroupOf(a.corruptions[i]));
      for (size_t s = 0; s < a.severities.size(); ++s) {
        const Cell& cell = a.cells[i][s];
        absl::StrAppend(&out, m.model, ",", m.role, ",", a.corruptions[i], ",", group, ",", a.severities[s], ",",
                        cell.correct, ",", cell.total, ",", FormatDouble(cell.accuracy()), ",,",
                        accuracy_interval(intervals ? intervals->cells[i][s] : Interval{}), ",,,,\n");
      }
      std::string ce, relative_ce;
      if (with_ce && report.corruption_errors->ce[i]) ce = FormatDouble(*report.corruption_errors->ce[i]);
      if (with_ce && report.corruption_errors->relative_ce[i]) {
        relative_ce = FormatDouble(*report.corruption_errors->relative_ce[i]);
      }
      const bool ce_intervals = with_ce && paired != nullptr;
      absl::StrAppend(&out, m.model, ",", m.role, ",", a.corruptions[i], ",", group, ",mean,,,",
                      FormatDouble(a.CorruptionAccuracy(i)), ",", ce, ",", relative_ce,
                      accuracy_interval(intervals ? intervals->corruption[i] : Interval{}),
                      CsvInterval(ce_intervals ? &paired->ce[i] : nullptr),
                      CsvInterval(ce_intervals ? &paired->relative_ce[i] : nullptr), "\n");
    }
  }
  if (paired != nullptr && report.models[0].accuracy) {
    const AccuracyTable& a = *report.models[0].accuracy;
    const AccuracyIntervals& d = paired->difference;
    const AccuracyDifferences& e = paired->difference_estimate;
    const std::string who = absl::StrCat(report.models[0].model, "-", report.models[1].model, ",difference,");
    absl::StrAppend(&out, who, "clean,clean,0,,,", FormatDouble(e.clean), ",,", CsvInterval(&d.clean), ",,,,\n");
    for (size_t i = 0; i < a.corruptions.size(); ++i) {
      const std::string group(corrupt::GroupOf(a.corruptions[i]));
      for (size_t s = 0; s < a.severities.size(); ++s) {
        absl::StrAppend(&out, who, a.corruptions[i], ",", group, ",", a.severities[s], ",,,",
                        FormatDouble(e.cells[i][s]), ",,", CsvInterval(&d.cells[i][s]), ",,,,\n");
      }
      absl::StrAppend(&out, who, a.corruptions[i], ",", group, ",mean,,,", FormatDouble(e.corruption[i]), ",,",
                      CsvInterval(&d.corruption[i]), ",,,,\n");
    }
  }
  return out;
}

}  // namespace wtserve::loadgen
