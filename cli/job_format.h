// Pure formatting of jobs for `loom show`, `loom queue` and `loom history`: no I/O, no clock
// (the time is an argument), so tests check the exact text.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "loom/v1/loom.pb.h"

namespace loom::cli {

// Local date and time of a Unix time in milliseconds: "2026-12-02 01:30:00".
std::string FormatTime(int64_t ms);
// "12.3%", or "-" for a figure loomd could not define (a negative ratio: no denominator).
std::string Percent(double ratio);
// The job's processes: "4 (1 per node, 2 GPUs each)", or "4 (one per GPU)" in the default mode.
std::string TasksLine(const v1::JobSpec& spec);

// Seconds from the job's (latest) start to its end, or to `now_ms` while it runs; 0 unstarted.
int64_t ElapsedSeconds(const v1::Job& job, int64_t now_ms);
// GPU-hours the job held, over all its attempts (requeued ones count: they held the GPUs too).
double GpuHours(const v1::Job& job, int64_t now_ms);
// Model FLOPs over peak FLOPs during its reported steps, over every run that reported any (as
// `loom show` computes it per run); -1 when none did.
double JobMfu(const v1::Job& job);

// `loom history`'s table (sacct's columns) and its --json form, one job per row.
std::vector<std::string> HistoryHeader();
std::vector<std::string> HistoryRow(const v1::Job& job, int64_t now_ms);
nlohmann::json HistoryJson(const v1::Job& job, int64_t now_ms);

}  // namespace loom::cli
