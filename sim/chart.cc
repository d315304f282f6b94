#include "sim/chart.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/process.h"

namespace loom::sim {
namespace {

// gnuplot strings are single-quoted; a quote inside is doubled.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string Script(const ChartSpec& spec, const std::string& svg_path) {
  std::ostringstream g;
  g << "set terminal svg size 720,360 dynamic font 'sans,11'\n"
    << "set output " << Quote(svg_path) << "\n"
    << "set title " << Quote(spec.title) << "\nset xlabel " << Quote(spec.x_label)
    << "\nset ylabel " << Quote(spec.y_label) << "\nset grid\nset key outside right\n";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    g << "$D" << i << " << EOD\n";
    for (const auto& [x, y] : spec.series[i].points) g << x << " " << y << "\n";
    g << "EOD\n";
  }
  if (spec.kind == ChartSpec::Kind::kBars) {
    g << "set style fill solid 0.8\nset boxwidth 0.6\nset yrange [0:*]\nset xtics (";
    for (size_t i = 0; i < spec.bar_labels.size(); ++i) {
      g << (i ? ", " : "") << Quote(spec.bar_labels[i]) << " " << i;
    }
    g << ")\n";
  }
  g << "plot ";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const char* with = spec.kind == ChartSpec::Kind::kBars    ? "boxes"
                       : spec.kind == ChartSpec::Kind::kSteps ? "steps"
                                                              : "lines";
    g << (i ? ", " : "") << "$D" << i << " using 1:2 with " << with << " lw 2 title "
      << Quote(spec.series[i].name);
  }
  g << "\n";
  return g.str();
}

}  // namespace

StatusOr<std::string> RenderChart(const ChartSpec& spec) {
  namespace fs = std::filesystem;
  std::string dir_template = (fs::temp_directory_path() / "loom-sim-chart-XXXXXX").string();
  if (!mkdtemp(dir_template.data())) return Unavailable("cannot make a temporary directory for charts");
  const fs::path dir = dir_template;
  const std::string script = (dir / "chart.gp").string(), svg = (dir / "chart.svg").string();
  {
    std::ofstream f(script);
    f << Script(spec, svg);
  }
  SpawnSpec run;
  run.argv = {"gnuplot", script};
  if (const char* path = std::getenv("PATH")) run.env["PATH"] = path;
  run.stdout_path = run.stderr_path = (dir / "gnuplot.log").string();
  StatusOr<pid_t> pid = Spawn(run);
  std::string out;
  Status status = Status::Ok();
  if (!pid.ok()) {
    status = Unavailable("cannot draw charts: gnuplot not found (apt-get install gnuplot-nox)");
  } else {
    int wstatus = 0;
    waitpid(*pid, &wstatus, 0);
    std::ifstream in(svg);
    std::ostringstream text;
    text << in.rdbuf();
    out = text.str();
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0 || out.empty()) {
      status = Unavailable("gnuplot failed to draw '" + spec.title + "'");
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!status.ok()) return status;
  // The page embeds the SVG element itself: drop the XML prolog before it.
  const auto at = out.find("<svg");
  return at == std::string::npos ? out : out.substr(at);
}

}  // namespace loom::sim
