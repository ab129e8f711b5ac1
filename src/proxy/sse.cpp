#include "proxy/sse.hpp"

namespace ap::proxy {

std::optional<std::string_view> SseSplitter::Next() {
  if (consumed_ > 0 && consumed_ == pending_.size()) {
    pending_.clear();
    consumed_ = 0;
  }
  std::string_view rest = Rest();
  size_t lf = rest.find("\n\n");
  size_t crlf = rest.find("\r\n\r\n");
  size_t end = std::string_view::npos;
  if (lf != std::string_view::npos) end = lf + 2;
  if (crlf != std::string_view::npos && crlf + 4 <= end) end = crlf + 4;
  if (end == std::string_view::npos) {
    pending_.erase(0, consumed_);  // keep only the unfinished event
    consumed_ = 0;
    return std::nullopt;
  }
  consumed_ += end;
  return rest.substr(0, end);
}

namespace {

// Calls `fn(field, value)` for each "field: value" line of an event.
template <class Fn>
void ForEachLine(std::string_view event, Fn fn) {
  while (!event.empty()) {
    size_t nl = event.find('\n');
    std::string_view line = event.substr(0, nl);
    event = nl == std::string_view::npos ? std::string_view() : event.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t colon = line.find(':');
    if (line.empty() || colon == 0) continue;
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    fn(field, value);
  }
}

}  // namespace

std::string EventData(std::string_view event) {
  std::string data;
  bool first = true;
  ForEachLine(event, [&](std::string_view field, std::string_view value) {
    if (field != "data") return;
    if (!first) data += '\n';
    data += value;
    first = false;
  });
  return data;
}

std::string_view EventName(std::string_view event) {
  std::string_view name;
  ForEachLine(event, [&](std::string_view field, std::string_view value) {
    if (field == "event") name = value;
  });
  return name;
}

}  // namespace ap::proxy
