// Usage figures in a provider's answer or stream event: the reader that builds nothing
// (MergeUsageFromChunk) must find what a reader of the whole parsed answer finds
// (proxy/usage_reference.hpp), figure for figure, from nothing and from usage already read; and
// reading an event's usage and output bytes in one walk (ReadStreamEvent) reads what the two
// readers read apart.

#include "fuzz_input.hpp"
#include "proxy/usage.hpp"
#include "proxy/usage_reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view text = fuzz::Text(data, size);
  for (bool earlier : {false, true}) {
    proxy::Usage start;
    if (earlier) {  // a stream's later event folds into what its earlier ones said (each figure kept)
      proxy::MergeUsageFromChunk(R"({"type":"message_start","message":{"usage":{"input_tokens":5,)"
                                 R"("cache_creation_input_tokens":7,"cache_read_input_tokens":3,"output_tokens":6}}})",
                                 start);
      proxy::MergeUsageFromChunk(R"({"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,)"
                                 R"("toolUsePromptTokenCount":1,"cachedContentTokenCount":2}})",
                                 start);
      start.searches_by_candidate = {2};
      start.SetToolUses("google_search", 2);
    }
    proxy::Usage read = start, parsed = start, together = start;
    bool read_only_usage = proxy::MergeUsageFromChunk(text, read);
    bool parsed_only_usage = proxy::reference::MergeUsageFromParse(text, parsed);
    if (read != parsed) fuzz::Broken("the usage read equals the usage of the parsed answer");
    if (read_only_usage != parsed_only_usage)
      fuzz::Broken("the usage-only chunk is told as the parsed answer tells it");
    proxy::EventReading one_walk = proxy::ReadStreamEvent(text, together, true);
    if (together != read || one_walk.usage_only != read_only_usage)
      fuzz::Broken("the usage read in one walk with the output equals the usage read alone");
    if (one_walk.output_bytes != proxy::OutputBytesOfEvent(text))
      fuzz::Broken("the output read in one walk with the usage equals the output read alone");
  }
  return 0;
}
