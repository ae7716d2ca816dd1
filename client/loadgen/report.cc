#include "client/loadgen/report.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/corrupt/corruptions.h"
#include "client/loadgen/json_writer.h"

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

std::string Pct(double fraction) { return absl::StrFormat("%.2f", 100.0 * fraction); }
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
    absl::StrAppend(&out, absl::StrFormat("   latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  max %.3f\n",
                                          1e3 * l.min, 1e3 * l.mean, 1e3 * l.p50, 1e3 * l.p90, 1e3 * l.p95,
                                          1e3 * l.p99, 1e3 * l.max));
    std::vector<std::string> codes;
    for (const auto& [code, n] : r.status_counts) codes.push_back(absl::StrCat(code, " ", n));
    absl::StrAppend(&out, "   status codes: ", absl::StrJoin(codes, ", "), "\n");
    for (const auto& [code, message] : r.first_message) absl::StrAppend(&out, "   first ", code, ": ", message, "\n");
    if (m.accuracy) {
      const AccuracyTable& a = *m.accuracy;
      absl::StrAppend(&out, absl::StrFormat("   accuracy: clean %s%% (%d/%d)", Pct(a.clean.accuracy()), a.clean.correct,
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

void WriteCell(JsonWriter& j, const Cell& cell) {
  j.BeginObject().Key("correct").Int(cell.correct).Key("total").Int(cell.total).Key("accuracy").Double(cell.accuracy());
  j.EndObject();
}

}  // namespace

std::string RenderJson(const Report& report) {
  const RunConfig& c = report.config;
  JsonWriter j;
  j.BeginObject();
  j.Key("format_version").Int(kReportFormatVersion);
  j.Key("tool").String("wtserve-loadgen");
  j.Key("config").BeginObject();
  j.Key("target").String(c.target);
  j.Key("model").String(c.model);
  j.Key("model_version").String(c.model_version);
  j.Key("baseline_model").String(c.baseline_model);
  j.Key("baseline_version").String(c.baseline_version);
  j.Key("transport").String(c.transport);
  j.Key("mode").String(c.rate > 0 ? "open_loop" : "closed_loop");
  j.Key("concurrency").Int(c.concurrency);
  j.Key("rate").Double(c.rate);
  j.Key("arrival").String(c.arrival);
  j.Key("batch_size").Int(c.batch_size);
  j.Key("input").String(c.input);
  j.Key("data").String(c.data);
  j.Key("data_path").String(c.data_path);
  j.Key("images").Int(c.images);
  j.Key("single_pass").Bool(c.single_pass);
  j.Key("max_requests").Int(c.max_requests);
  j.Key("duration_s").Double(c.duration_s);
  j.Key("warmup_requests").Int(c.warmup_requests);
  j.Key("corruptions").BeginArray();
  for (const std::string& name : c.corruptions) j.String(name);
  j.EndArray();
  j.Key("severities").BeginArray();
  for (int s : c.severities) j.Int(s);
  j.EndArray();
  j.Key("seed").Int(static_cast<int64_t>(c.seed));
  j.Key("fp32_scale").Double(c.fp32_scale);
  j.Key("server_name").String(c.server_name);
  j.Key("server_version").String(c.server_version);
  j.Key("started_at_utc").String(c.started_at_utc);
  j.EndObject();

  j.Key("models").BeginArray();
  for (const ModelReport& m : report.models) {
    const RunResult& r = m.run;
    j.BeginObject();
    j.Key("model").String(m.model).Key("version").String(m.version).Key("role").String(m.role);
    j.Key("requests").BeginObject().Key("sent").Int(r.requests_sent).Key("ok").Int(r.requests_ok)
        .Key("failed").Int(r.requests_failed).EndObject();
    j.Key("images").BeginObject().Key("sent").Int(r.images_sent).Key("ok").Int(r.images_ok)
        .Key("unanswered_items").Int(m.unanswered).EndObject();
    j.Key("elapsed_s").Double(r.elapsed_s);
    j.Key("requests_per_s").Double(PerSecond(r.requests_ok, r.elapsed_s));
    j.Key("images_per_s").Double(PerSecond(r.images_ok, r.elapsed_s));
    const LatencySummary& l = m.latency;
    j.Key("latency_ms").BeginObject().Key("count").Int(l.count).Key("min").Double(1e3 * l.min)
        .Key("mean").Double(1e3 * l.mean).Key("p50").Double(1e3 * l.p50).Key("p90").Double(1e3 * l.p90)
        .Key("p95").Double(1e3 * l.p95).Key("p99").Double(1e3 * l.p99).Key("max").Double(1e3 * l.max).EndObject();
    j.Key("status_codes").BeginObject();
    for (const auto& [code, n] : r.status_counts) j.Key(code).Int(n);
    j.EndObject();
    j.Key("error_messages").BeginObject();
    for (const auto& [code, message] : r.first_message) j.Key(code).String(message);
    j.EndObject();
    // Every successful request's latency in completion order, for distribution plots.
    j.Key("latencies_ms").BeginArray();
    for (double s : r.latencies_s) j.Double(1e3 * s);
    j.EndArray();
    if (m.accuracy) {
      const AccuracyTable& a = *m.accuracy;
      j.Key("accuracy").BeginObject();
      j.Key("complete").Bool(m.unanswered == 0);
      j.Key("clean");
      WriteCell(j, a.clean);
      j.Key("mean_corruption_accuracy").OptionalDouble(a.MeanCorruptionAccuracy());
      j.Key("corruptions").BeginArray();
      for (size_t i = 0; i < a.corruptions.size(); ++i) {
        j.BeginObject();
        j.Key("name").String(a.corruptions[i]).Key("group").String(corrupt::GroupOf(a.corruptions[i]));
        j.Key("mean_accuracy").Double(a.CorruptionAccuracy(i));
        j.Key("severities").BeginArray();
        for (size_t s = 0; s < a.severities.size(); ++s) {
          j.BeginObject().Key("severity").Int(a.severities[s]).Key("correct").Int(a.cells[i][s].correct)
              .Key("total").Int(a.cells[i][s].total).Key("accuracy").Double(a.cells[i][s].accuracy()).EndObject();
        }
        j.EndArray();
        j.EndObject();
      }
      j.EndArray();
      j.EndObject();
    } else {
      j.Key("accuracy").Null();
    }
    j.EndObject();
  }
  j.EndArray();

  j.Key("corruption_errors");
  if (report.corruption_errors && report.models.size() == 2) {
    const CorruptionErrors& e = *report.corruption_errors;
    j.BeginObject();
    j.Key("model").String(report.models[0].model).Key("baseline").String(report.models[1].model);
    j.Key("mce").OptionalDouble(e.mce).Key("relative_mce").OptionalDouble(e.relative_mce);
    j.Key("mce_all").OptionalDouble(e.mce_all).Key("relative_mce_all").OptionalDouble(e.relative_mce_all);
    j.Key("corruptions").BeginArray();
    for (size_t i = 0; i < e.corruptions.size(); ++i) {
      j.BeginObject().Key("name").String(e.corruptions[i]).Key("ce").OptionalDouble(e.ce[i])
          .Key("relative_ce").OptionalDouble(e.relative_ce[i]).EndObject();
    }
    j.EndArray();
    j.EndObject();
  } else {
    j.Null();
  }
  j.EndObject();
  return j.str();
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
