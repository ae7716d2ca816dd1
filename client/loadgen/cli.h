// Command-line helpers of wtserve-loadgen that are worth testing on their own.
#ifndef WTSERVE_CLIENT_LOADGEN_CLI_H_
#define WTSERVE_CLIENT_LOADGEN_CLI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/loadgen/workload.h"

namespace wtserve::loadgen {

// "1-5", "3", "1,3,5", "1-2,5" -> sorted unique severities in 1..5. InvalidArgument otherwise.
absl::StatusOr<std::vector<int>> ParseSeverities(const std::string& spec);

// Rewrites "--batch-size=4" / "--batch-size" to "--batch_size..." (abseil flag names cannot
// contain '-'; both spellings are accepted). Arguments after "--" and values are untouched.
std::vector<std::string> NormalizeFlagNames(const std::vector<std::string>& args);

// clean, then every corruption at every severity (corruption-major).
std::vector<Condition> MakeConditions(const std::vector<std::string>& corruptions, const std::vector<int>& severities);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_CLI_H_
