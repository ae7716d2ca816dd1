// The loadgen's progress report while a run is timed: a redrawn bar on a terminal, a plain line
// every few seconds otherwise (logs, CI, a pipe), so a long robustness run is never silent.
#ifndef WTSERVE_CLIENT_LOADGEN_PROGRESS_H_
#define WTSERVE_CLIENT_LOADGEN_PROGRESS_H_

#include <cstdint>
#include <string>

namespace wtserve::loadgen {

enum class ProgressMode {
  kOff,
  kTerminal,  // one line redrawn with '\r' twice a second
  kLines,     // one full line per interval (RunOptions::progress_interval)
};

// What the runner knows at one moment.
struct ProgressSnapshot {
  std::string label;      // the model
  std::string condition;  // of the request started last: "clean", "fog s3"; "" if unknown
  int64_t done = 0;       // requests answered (ok or failed)
  int64_t total = 0;      // requests the run will send; 0 when bounded by time only
  int64_t failed = 0;
  int64_t images_ok = 0;
  double elapsed_s = 0;
  double duration_s = 0;  // time bound, 0: none
};

// The fraction done: by requests when the total is known, else by time, else -1.
double ProgressFraction(const ProgressSnapshot& s);

// Terminal: "<label> [#####-----]  45%  2250/5000 req  812 img/s  0 errors  fog s3  ETA 0:42"
// (starts with '\r', padded so a shorter line overwrites a longer one). Lines: the same facts as
// one sentence-like line ending in '\n'. ETA = remaining / rate so far; omitted until something
// was answered.
std::string FormatProgress(const ProgressSnapshot& s, ProgressMode mode);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_PROGRESS_H_
