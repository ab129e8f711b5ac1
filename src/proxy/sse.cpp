#include "proxy/sse.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ap::proxy {

namespace {

// Where the first CR or LF from `p` on is, or `end`: sixteen bytes at a time, as an event's lines
// are long (a chunk of JSON) and their ends few.
const char* LineEnd(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf))))
      return p + __builtin_ctz(static_cast<unsigned>(mask));
  }
#endif
  while (p < end && *p != '\r' && *p != '\n') ++p;
  return p;
}

// Calls `fn(field, value)` for each "field: value" line of an event, lines ending as the splitter
// ends them (and as the SDKs do): CRLF, LF or a lone CR.
template <class Fn>
void ForEachLine(std::string_view event, Fn fn) {
  while (!event.empty()) {
    auto end = static_cast<size_t>(LineEnd(event.data(), event.data() + event.size()) - event.data());
    std::string_view line = event.substr(0, end);
    size_t next = end == event.size() ? end : event.compare(end, 2, "\r\n") == 0 ? end + 2 : end + 1;
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

// The end of the first complete event from scanned_ on, or npos; remembers its state between
// calls. A line's bytes are passed at once; each line end is looked at alone.
size_t SseSplitter::FindEventEnd() {
  const char* data = pending_.data();
  const char* end = data + pending_.size();
  while (scanned_ < pending_.size()) {
    if (after_cr_) {
      after_cr_ = false;
      if (data[scanned_] == '\n') {  // CRLF is one line end
        if (cr_blank_) return scanned_ + 1;
        ++scanned_;
        continue;
      }
      if (cr_blank_) return scanned_;
    }
    const char* line_end = LineEnd(data + scanned_, end);
    if (line_end != data + scanned_) line_empty_ = false;
    scanned_ = static_cast<size_t>(line_end - data);
    if (line_end == end) break;
    bool blank = line_empty_;
    line_empty_ = true;
    if (*line_end == '\r') {  // wait for the next byte: it may be the LF of a CRLF
      after_cr_ = true;
      cr_blank_ = blank;
    } else if (blank) {
      return scanned_ + 1;
    }
    ++scanned_;
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
