// Usage figures in a provider's answer or stream event: the reader that builds nothing
// (MergeUsageFromChunk) must find what a reader of the whole parsed answer finds
// (proxy/usage_reference.hpp), figure for figure, from nothing and from usage already read.

#include "fuzz_input.hpp"
#include "proxy/usage.hpp"
#include "proxy/usage_reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view text = fuzz::Text(data, size);
  for (bool earlier : {false, true}) {
    proxy::Usage read, parsed;
    if (earlier)  // a stream's later event folds into what its earlier ones said
      for (proxy::Usage* u : {&read, &parsed}) {
        u->input_tokens = 5;
        u->output_tokens = 6;
        u->searches_by_candidate = {2};
        u->SetToolUses("google_search", 2);
      }
    bool read_only_usage = proxy::MergeUsageFromChunk(text, read);
    bool parsed_only_usage = proxy::reference::MergeUsageFromParse(text, parsed);
    if (read != parsed) fuzz::Broken("the usage read equals the usage of the parsed answer");
    if (read_only_usage != parsed_only_usage)
      fuzz::Broken("the usage-only chunk is told as the parsed answer tells it");
  }
  return 0;
}
