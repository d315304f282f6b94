// The dashboard's built files (web/, bundled by esbuild), embedded into the binary at build time so
// loomd serves them with no network and no files beside it.
#pragma once

#include <cstddef>
#include <vector>

namespace loom::http {

struct WebAsset {
  const char* path;          // URL path, e.g. "/app.js"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

const std::vector<WebAsset>& WebAssets();

}  // namespace loom::http
