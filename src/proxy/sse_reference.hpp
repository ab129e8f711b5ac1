#pragma once
// What the SSE splitter (proxy/sse.hpp) must find, written as the spec reads a stream: one byte at
// a time. An event ends at a blank line; a line ends with CRLF, LF or a lone CR, and a CR at the
// end of what has arrived may still get its LF. For tests and fuzz targets; never on the hot path.

#include <string>
#include <string_view>
#include <vector>

namespace ap::proxy::reference {

struct SplitStream {
  std::vector<std::string> events;  // each with its blank line
  std::string rest;                 // the event not yet complete
};

inline SplitStream SplitByteByByte(std::string_view stream) {
  SplitStream out;
  size_t start = 0;
  bool line_empty = true;
  for (size_t i = 0; i < stream.size(); ++i) {
    char c = stream[i];
    if (c != '\r' && c != '\n') {
      line_empty = false;
      continue;
    }
    bool blank = line_empty;
    line_empty = true;
    size_t line_end = i + 1;
    if (c == '\r') {
      if (i + 1 == stream.size()) break;  // its LF may come next
      if (stream[i + 1] == '\n') line_end = ++i + 1;
    }
    if (blank) {
      out.events.emplace_back(stream.substr(start, line_end - start));
      start = line_end;
    }
  }
  out.rest = stream.substr(start);
  return out;
}

}  // namespace ap::proxy::reference
