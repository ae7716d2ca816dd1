// Command-line usage shared by wtserve's programs (server, tools, loadgen, health probe).
#ifndef WTSERVE_COMMON_CLI_USAGE_H_
#define WTSERVE_COMMON_CLI_USAGE_H_

#include "absl/strings/string_view.h"

namespace wtserve::cli {

// Sets `message` as the program's usage text and makes --help / --helpshort list the flags
// defined in `main_file` (pass __FILE__ from the file that defines the program's ABSL_FLAGs).
// abseil's default lists only flags from a file named like the binary (<program>.cc or
// <program>_main.cc), which none of ours is, so --help would print no flags at all.
// Call before absl::ParseCommandLine.
void SetUsage(absl::string_view main_file, absl::string_view message);

}  // namespace wtserve::cli

#endif  // WTSERVE_COMMON_CLI_USAGE_H_
