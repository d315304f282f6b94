#include "sim/chart.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

#include "web/assets.h"

namespace loom::sim {
namespace {

std::string_view Asset(const char* path) {
  for (const http::WebAsset& a : http::WebAssets()) {
    if (std::string_view(a.path) == path) return {reinterpret_cast<const char*>(a.data), a.size};
  }
  return {};
}

// JSON inside <script>: "</" would end the element.
std::string ScriptSafe(std::string s) {
  for (size_t at = s.find("</"); at != std::string::npos; at = s.find("</", at + 2)) s.replace(at, 2, "<\\/");
  return s;
}

nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

}  // namespace

std::string ChartLibrary() {
  return "<style>" + std::string(Asset("/uPlot.min.css")) + "</style>\n<script>" +
         std::string(Asset("/uPlot.iife.min.js")) + "</script>\n";
}

std::string RenderChart(const ChartSpec& spec, const std::string& id) {
  nlohmann::json data = nlohmann::json::array();
  nlohmann::json xs = nlohmann::json::array();
  const std::vector<std::pair<double, double>> none;
  const auto& first = spec.series.empty() ? none : spec.series.front().points;
  for (const auto& p : first) xs.push_back(Number(p.first));
  data.push_back(xs);
  nlohmann::json series = nlohmann::json::array({{{"label", spec.x_label}}});
  for (size_t i = 0; i < spec.series.size(); ++i) {
    nlohmann::json ys = nlohmann::json::array();
    for (size_t k = 0; k < first.size(); ++k) {
      ys.push_back(k < spec.series[i].points.size() ? Number(spec.series[i].points[k].second) : nlohmann::json());
    }
    data.push_back(ys);
    series.push_back({{"label", spec.series[i].name}, {"stroke", kColors[i % 5]}});
  }
  const nlohmann::json meta = {{"title", spec.title},     {"x", spec.x_label},
                               {"y", spec.y_label},       {"labels", spec.bar_labels},
                               {"series", series},        {"data", data},
                               {"kind", spec.kind == ChartSpec::Kind::kBars    ? "bars"
                                        : spec.kind == ChartSpec::Kind::kSteps ? "steps"
                                                                               : "lines"}};
  // The drawing is the page's: uPlot's options from the chart's kind (steps, lines or bars).
  return "<div class=\"chart\" id=\"" + id + "\"></div>\n<script>(function(){var c=" + ScriptSafe(meta.dump()) +
         ";var s=c.series.map(function(x,i){if(i==0)return x;"
         "if(c.kind=='steps')x.paths=uPlot.paths.stepped({align:1});"
         "if(c.kind=='bars'){x.paths=uPlot.paths.bars({size:[0.6]});x.fill=x.stroke;}return x;});"
         "var ax={label:c.x};if(c.kind=='bars'){ax.splits=function(){return c.data[0];};"
         "ax.values=function(u,v){return v.map(function(i){return c.labels[i]||'';});};}"
         "var o={title:c.title,width:760,height:360,series:s,axes:[ax,{label:c.y}],"
         "scales:{x:c.kind=='bars'?{time:false,range:[-0.5,c.data[0].length-0.5]}:{time:false}}};"
         "new uPlot(o,c.data,document.getElementById('" + id + "'));})();</script>\n";
}

}  // namespace loom::sim
