#include "common/metrics/exposition.h"

#include <cmath>
#include <cstdio>

namespace loom::metrics {
namespace {

bool NameChars(const std::string& name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Help text escapes backslash and newline; label values also the double quote.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string LabelText(const Labels& labels, const std::string& le = {}) {
  if (labels.empty() && le.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += k + "=\"" + Escape(v, true) + "\"";
  }
  if (!le.empty()) out += std::string(out.size() > 1 ? "," : "") + "le=\"" + le + "\"";
  return out + "}";
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kHistogram: return "histogram";
    case Type::kGauge: break;
  }
  return "gauge";
}

// Why `f` cannot be exposed, or empty.
std::string Problem(const Family& f) {
  if (!ValidMetricName(f.name)) return "invalid metric name";
  if (f.type == Type::kCounter && (f.name.size() < 6 || f.name.compare(f.name.size() - 6, 6, "_total") != 0)) {
    return "counter name must end in _total";
  }
  auto bad_labels = [](const Labels& labels) {
    for (const auto& [k, v] : labels) {
      if (!ValidLabelName(k) || k == "le") return true;
    }
    return false;
  };
  for (const Sample& s : f.samples) {
    if (bad_labels(s.labels)) return "invalid label name";
  }
  for (const HistogramSample& h : f.histograms) {
    if (bad_labels(h.labels)) return "invalid label name";
    if (h.counts.size() != h.bounds.size()) return "histogram counts do not match its bounds";
  }
  return "";
}

}  // namespace

bool ValidMetricName(const std::string& name) { return NameChars(name, true); }

bool ValidLabelName(const std::string& name) {
  return NameChars(name, false) && name.rfind("__", 0) != 0;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.17g", v);
  }
  return buf;
}

std::string Render(const std::vector<Family>& families) {
  std::string out;
  for (const Family& f : families) {
    if (std::string why = Problem(f); !why.empty()) {
      out += "# loom: left out '" + Escape(f.name, false) + "': " + why + "\n";
      continue;
    }
    out += "# HELP " + f.name + " " + Escape(f.help, false) + "\n";
    out += "# TYPE " + f.name + " " + TypeName(f.type) + "\n";
    if (f.type != Type::kHistogram) {
      for (const Sample& s : f.samples) out += f.name + LabelText(s.labels) + " " + FormatValue(s.value) + "\n";
      continue;
    }
    for (const HistogramSample& h : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        out += f.name + "_bucket" + LabelText(h.labels, FormatValue(h.bounds[i])) + " " +
               FormatValue(static_cast<double>(cumulative)) + "\n";
      }
      out += f.name + "_bucket" + LabelText(h.labels, "+Inf") + " " + FormatValue(static_cast<double>(h.count)) + "\n";
      out += f.name + "_sum" + LabelText(h.labels) + " " + FormatValue(h.sum) + "\n";
      out += f.name + "_count" + LabelText(h.labels) + " " + FormatValue(static_cast<double>(h.count)) + "\n";
    }
  }
  return out;
}

Family& AddFamily(std::vector<Family>& out, std::string name, std::string help, Type type) {
  Family f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  out.push_back(std::move(f));
  return out.back();
}

}  // namespace loom::metrics
