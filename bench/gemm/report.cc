#include "bench/gemm/report.h"

#include <algorithm>
#include <cmath>

namespace loom::bench::gemm {

Row& Row::Str(std::string key, std::string value) {
  fields_.push_back({std::move(key), std::move(value), false});
  return *this;
}

Row& Row::Int(std::string key, long long value) {
  fields_.push_back({std::move(key), std::to_string(value), true});
  return *this;
}

Row& Row::Num(std::string key, double value, int decimals) {
  if (std::isnan(value)) {
    fields_.push_back({std::move(key), "null", true});
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  fields_.push_back({std::move(key), buf, true});
  return *this;
}

// Rows share their keys (one runner makes them all), so the first row's keys head the table.
void PrintTable(const std::vector<Row>& rows, FILE* out) {
  if (rows.empty()) return;
  const auto& head = rows.front().fields();
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) width[c] = head[c].key.size();
  for (const Row& r : rows)
    for (size_t c = 0; c < r.fields().size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r.fields()[c].text.size());
  auto print_line = [&](auto text_of) {
    for (size_t c = 0; c < head.size(); ++c) {
      const std::string& t = text_of(c);
      std::fprintf(out, c == 0 ? "%-*s" : "  %*s", static_cast<int>(width[c]),
                   t == "null" ? "-" : t.c_str());
    }
    std::fprintf(out, "\n");
  };
  print_line([&](size_t c) -> const std::string& { return head[c].key; });
  for (const Row& r : rows) print_line([&](size_t c) -> const std::string& { return r.fields()[c].text; });
}

void PrintJson(const std::vector<Row>& rows, FILE* out) {
  std::fprintf(out, "[");
  for (size_t i = 0; i < rows.size(); ++i) {
    std::fprintf(out, "%s\n  {", i == 0 ? "" : ",");
    const auto& f = rows[i].fields();
    for (size_t c = 0; c < f.size(); ++c) {
      // Keys and values are our own identifiers and device names: no characters need escaping
      // beyond quotes and backslashes, which device names do not contain.
      std::fprintf(out, "%s\"%s\": %s%s%s", c == 0 ? "" : ", ", f[c].key.c_str(),
                   f[c].number ? "" : "\"", f[c].text.c_str(), f[c].number ? "" : "\"");
    }
    std::fprintf(out, "}");
  }
  std::fprintf(out, "\n]\n");
}

}  // namespace loom::bench::gemm
