#pragma once
// Server-sent events as they arrive: bytes in, whole events out, so a relay can look at each event
// (usage figures) and pass it on as soon as it is complete. Events end with a blank line ("\n\n" or
// "\r\n\r\n"), as the providers send them.
// Thread-safety: none; one per stream.

#include <optional>
#include <string>
#include <string_view>

namespace ap::proxy {

class SseSplitter {
 public:
  void Feed(std::string_view bytes) { pending_.append(bytes); }
  // The next complete event, blank line included; valid until the next call to Feed or Next.
  std::optional<std::string_view> Next();
  // Bytes of an event not yet complete.
  std::string_view Rest() const { return std::string_view(pending_).substr(consumed_); }

 private:
  std::string pending_;
  size_t consumed_ = 0;
};

// The concatenated `data:` lines of an event ("" when it has none).
std::string EventData(std::string_view event);
// The `event:` name of an event ("" when it has none).
std::string_view EventName(std::string_view event);

}  // namespace ap::proxy
