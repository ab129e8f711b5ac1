#pragma once
// Server-sent events as they arrive: bytes in, whole events out, so a relay can look at each event
// (usage figures) and pass it on as soon as it is complete. An event ends with a blank line; lines
// end with CRLF, LF or CR (the SSE spec), so "\n\n", "\r\n\r\n" and "\r\r" all end an event. Each
// byte is scanned once, and an event may not grow past kMaxEvent: an upstream that never ends one
// would otherwise hold ever more memory.
// Thread-safety: none; one per stream.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ap::proxy {

class SseSplitter {
 public:
  static constexpr size_t kMaxEvent = 8 << 20;

  void Feed(std::string_view bytes) { pending_.append(bytes); }
  // The next complete event, blank line included; valid until the next call to Feed or Next.
  // Nullopt when no event is complete, or when one is too long.
  std::optional<std::string_view> Next();
  // Whether an event has passed kMaxEvent; the stream cannot go on.
  bool TooLong() const { return too_long_; }
  // Bytes of an event not yet complete.
  std::string_view Rest() const { return std::string_view(pending_).substr(consumed_); }

 private:
  size_t FindEventEnd();

  std::string pending_;
  size_t consumed_ = 0;  // where the unfinished event starts
  size_t scanned_ = 0;   // where the scan for its end goes on
  bool line_empty_ = true;
  bool after_cr_ = false;    // the last byte scanned was a CR: a LF next belongs to it
  bool cr_blank_ = false;    // ...and it ended a blank line
  bool too_long_ = false;
};

// The concatenated `data:` lines of an event ("" when it has none).
std::string EventData(std::string_view event);
// The same without a copy where the event has one `data:` line (the usual case): a view of
// `event`, or of `scratch` where lines had to be joined.
std::string_view EventData(std::string_view event, std::string& scratch);
// The `event:` name of an event ("" when it has none).
std::string_view EventName(std::string_view event);

}  // namespace ap::proxy
