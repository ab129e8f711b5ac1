#pragma once
// What the fuzz targets share: the input as text, cut into parts, and a loud failure for a
// promise a parser broke (a wrong answer is a finding too, not only a crash).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace ap::fuzz {

inline std::string_view Text(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// The text before the first `separator` and the text after it; all of it and "" without one.
inline std::pair<std::string_view, std::string_view> Cut(std::string_view text, char separator = '\n') {
  size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + 1)};
}

[[noreturn]] inline void Broken(const char* promise) {
  std::fprintf(stderr, "broken promise: %s\n", promise);
  std::abort();
}

}  // namespace ap::fuzz
