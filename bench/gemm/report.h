// Output of loom-bench gemm: rows of named fields, printed as an aligned table or one JSON array.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace loom::bench::gemm {

struct Field {
  std::string key;
  std::string text;  // already formatted
  bool number;       // unquoted in JSON
};

class Row {
 public:
  Row& Str(std::string key, std::string value);
  Row& Int(std::string key, long long value);
  Row& Num(std::string key, double value, int decimals);  // NaN prints as null / "-"
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

void PrintTable(const std::vector<Row>& rows, FILE* out);
void PrintJson(const std::vector<Row>& rows, FILE* out);

}  // namespace loom::bench::gemm
