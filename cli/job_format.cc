#include "cli/job_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "common/duration.h"
#include "common/task_layout.h"

namespace loom::cli {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string TimeOrDash(int64_t ms) { return ms > 0 ? FormatTime(ms) : "-"; }

}  // namespace

std::string FormatTime(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  tm local {};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

std::string Percent(double ratio) {
  if (ratio < 0) return "-";
  return Fixed(ratio * 100, 1) + "%";
}

std::string TasksLine(const v1::JobSpec& spec) {
  const int per_node = spec.gpus_per_node() > 0 ? spec.gpus_per_node() : spec.gpus();
  const int nodes = per_node > 0 ? spec.gpus() / per_node : 0;
  const TaskLayout layout = LayoutOf(nodes, per_node, spec.tasks_per_node());
  if (spec.tasks_per_node() == 0) return std::to_string(layout.tasks()) + " (one per GPU)";
  return std::to_string(layout.tasks()) + " (" + std::to_string(layout.tasks_per_node) + " per node, " +
         std::to_string(layout.gpus_per_task()) + " GPU" + (layout.gpus_per_task() == 1 ? "" : "s") + " each)";
}

int64_t ElapsedSeconds(const v1::Job& job, int64_t now_ms) {
  if (job.start_time_ms() == 0) return 0;
  const int64_t end = job.end_time_ms() > 0 ? job.end_time_ms() : now_ms;
  return std::max<int64_t>(0, (end - job.start_time_ms()) / 1000);
}

double GpuHours(const v1::Job& job, int64_t now_ms) {
  if (job.runs_size() == 0) return job.spec().gpus() * ElapsedSeconds(job, now_ms) / 3600.0;
  double gpu_ms = 0;
  for (const v1::JobRun& r : job.runs()) {
    if (r.start_ms() == 0) continue;
    const int64_t end = r.end_ms() > 0 ? r.end_ms() : now_ms;
    gpu_ms += static_cast<double>(r.gpus()) * std::max<int64_t>(0, end - r.start_ms());
  }
  return gpu_ms / 3.6e6;
}

double JobMfu(const v1::Job& job) {
  double model = 0, peak = 0;
  for (const v1::JobRun& r : job.runs()) {
    if (r.steps() == 0 || r.peak_flops() <= 0) continue;
    model += r.model_flops();
    peak += r.step_time_s() * r.peak_flops();
  }
  return peak > 0 ? model / peak : -1;
}

std::vector<std::string> HistoryHeader() {
  return {"JOBID", "NAME", "TENANT", "STATE", "SUBMIT", "START", "END", "ELAPSED",
          "GPUS", "GPU-HOURS", "EXIT", "ATTEMPTS", "MFU"};
}

std::vector<std::string> HistoryRow(const v1::Job& job, int64_t now_ms) {
  return {std::to_string(job.id()), job.spec().name(), job.spec().tenant(), v1::JobState_Name(job.state()),
          TimeOrDash(job.submit_time_ms()), TimeOrDash(job.start_time_ms()), TimeOrDash(job.end_time_ms()),
          FormatDuration(ElapsedSeconds(job, now_ms)), std::to_string(job.spec().gpus()),
          Fixed(GpuHours(job, now_ms), 2), std::to_string(job.exit_code()), std::to_string(job.attempt()),
          Percent(JobMfu(job))};
}

nlohmann::json HistoryJson(const v1::Job& job, int64_t now_ms) {
  const double mfu = JobMfu(job);
  return {{"id", job.id()},
          {"name", job.spec().name()},
          {"tenant", job.spec().tenant()},
          {"state", v1::JobState_Name(job.state())},
          {"reason", job.reason()},
          {"submit_time_ms", job.submit_time_ms()},
          {"start_time_ms", job.start_time_ms()},
          {"end_time_ms", job.end_time_ms()},
          {"elapsed_s", ElapsedSeconds(job, now_ms)},
          {"gpus", job.spec().gpus()},
          {"gpu_hours", GpuHours(job, now_ms)},
          {"exit_code", job.exit_code()},
          {"attempts", job.attempt()},
          {"mfu", mfu < 0 ? nlohmann::json(nullptr) : nlohmann::json(mfu)}};
}

}  // namespace loom::cli
