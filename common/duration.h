// Time limits as users write them: Slurm's forms (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM,
// D-HH:MM:SS) and unit suffixes (90s, 45m, 2h, 1d, 1h30m).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace loom {

// Seconds, or INVALID_ARGUMENT naming the accepted forms.
StatusOr<int64_t> ParseDuration(const std::string& text);
// "H:MM:SS", or "D-HH:MM:SS" past a day: squeue's TIME column.
std::string FormatDuration(int64_t seconds);

}  // namespace loom
