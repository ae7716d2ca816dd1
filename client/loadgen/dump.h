// --dump_samples: PNG grids of images under every corruption and severity, for a person to look
// at what the model was shown.
#ifndef WTSERVE_CLIENT_LOADGEN_DUMP_H_
#define WTSERVE_CLIENT_LOADGEN_DUMP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/data/dataset.h"

namespace wtserve::loadgen {

// Writes dir/sample_<i>.png for the first `count` images of `data`: one row per corruption,
// columns clean then each severity, cells upscaled (nearest neighbour) to at least 84 px, with
// row and column captions. Uses the same (seed, image index) as the load run, so the pictures
// are exactly the images that were sent. Creates `dir`. Errors: the directory or a PNG cannot be
// written, or a corruption fails.
absl::Status DumpSampleGrids(const data::ImageDataset& data, const std::vector<std::string>& corruptions,
                             const std::vector<int>& severities, uint64_t seed, int count, const std::string& dir);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_DUMP_H_
