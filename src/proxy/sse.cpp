#include "proxy/sse.hpp"

namespace ap::proxy {

// The end of the first complete event from scanned_ on, or npos; remembers its state between calls.
size_t SseSplitter::FindEventEnd() {
  for (; scanned_ < pending_.size(); ++scanned_) {
    char c = pending_[scanned_];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {  // CRLF is one line end
        if (cr_blank_) return scanned_ + 1;
        continue;
      }
      if (cr_blank_) return scanned_;
    }
    if (c != '\r' && c != '\n') {
      line_empty_ = false;
      continue;
    }
    bool blank = line_empty_;
    line_empty_ = true;
    if (c == '\r') {  // wait for the next byte: it may be the LF of a CRLF
      after_cr_ = true;
      cr_blank_ = blank;
    } else if (blank) {
      return scanned_ + 1;
    }
  }
  return std::string::npos;
}

std::optional<std::string_view> SseSplitter::Next() {
  if (too_long_) return std::nullopt;
  size_t end = FindEventEnd();
  if (end == std::string::npos) {
    pending_.erase(0, consumed_);  // keep only the unfinished event
    scanned_ -= consumed_;
    consumed_ = 0;
    too_long_ = pending_.size() > kMaxEvent;
    return std::nullopt;
  }
  if (end - consumed_ > kMaxEvent) {
    too_long_ = true;
    return std::nullopt;
  }
  std::string_view event = std::string_view(pending_).substr(consumed_, end - consumed_);
  consumed_ = scanned_ = end;
  line_empty_ = true;
  after_cr_ = false;
  return event;
}

namespace {

// Calls `fn(field, value)` for each "field: value" line of an event, lines ending as the splitter
// ends them (and as the SDKs do): CRLF, LF or a lone CR.
template <class Fn>
void ForEachLine(std::string_view event, Fn fn) {
  while (!event.empty()) {
    size_t end = event.find_first_of("\r\n");
    std::string_view line = event.substr(0, end);
    size_t next = end == std::string_view::npos ? event.size() : event.compare(end, 2, "\r\n") == 0 ? end + 2 : end + 1;
    event.remove_prefix(next);
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

std::string_view EventData(std::string_view event, std::string& scratch) {
  std::string_view first;
  int lines = 0;
  ForEachLine(event, [&](std::string_view field, std::string_view value) {
    if (field != "data") return;
    if (lines++ == 0) first = value;
  });
  if (lines <= 1) return first;
  scratch = EventData(event);
  return scratch;
}

std::string_view EventName(std::string_view event) {
  std::string_view name;
  ForEachLine(event, [&](std::string_view field, std::string_view value) {
    if (field == "event") name = value;
  });
  return name;
}

}  // namespace ap::proxy
