// The SSE splitter, fed an upstream's stream in pieces. The first byte seeds the piece sizes.
// Promises checked: any split of the stream gives the same events, the events a byte-at-a-time
// reading of the spec gives (proxy/sse_reference.hpp).

#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "proxy/sse.hpp"
#include "proxy/sse_reference.hpp"

namespace {

using namespace ap;

std::vector<std::string> Events(std::string_view stream, unsigned seed) {
  proxy::SseSplitter splitter;
  std::vector<std::string> events;
  size_t at = 0;
  while (at < stream.size()) {
    size_t piece = seed == 0 ? stream.size() : 1 + (seed + at * 7) % (seed + 1);
    splitter.Feed(stream.substr(at, piece));
    at += piece;
    while (auto event = splitter.Next()) {
      std::string scratch;
      std::string_view data = proxy::EventData(*event, scratch);
      if (data != proxy::EventData(*event)) fuzz::Broken("both EventData agree");
      (void)proxy::EventName(*event);
      events.emplace_back(*event);
    }
  }
  events.emplace_back(splitter.Rest());
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view stream = fuzz::Text(data + 1, size - 1);
  std::vector<std::string> whole = Events(stream, 0);
  if (whole != Events(stream, data[0])) fuzz::Broken("any split gives the same events");
  proxy::reference::SplitStream spec = proxy::reference::SplitByteByByte(stream);
  spec.events.push_back(spec.rest);
  if (whole != spec.events) fuzz::Broken("the events are those a byte-at-a-time reading finds");
  return 0;
}
