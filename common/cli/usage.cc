#include "common/cli/usage.h"

#include <string>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"

namespace wtserve::cli {

void SetUsage(absl::string_view main_file, absl::string_view message) {
  absl::FlagsUsageConfig usage;
  // abseil records the __FILE__ of each ABSL_FLAG, the same string the caller passes.
  usage.contains_help_flags = [file = std::string(main_file)](absl::string_view flag_file) {
    return flag_file == file;
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(message);
}

}  // namespace wtserve::cli
