// Usage figures in a provider's answer or stream event, read from text (scanning only the usage
// members) and from a parsed value.

#include <boost/json.hpp>

#include "fuzz_input.hpp"
#include "proxy/usage.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view text = fuzz::Text(data, size);
  proxy::Usage from_text;
  proxy::MergeUsageFromJson(text, from_text);
  proxy::Usage from_chunk;
  (void)proxy::MergeUsageFromChunk(text, from_chunk);
  if (!proxy::MayCarryUsage(text) && !from_text.Empty()) fuzz::Broken("MayCarryUsage sees every usage");
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec) return 0;
  proxy::Usage from_value;
  proxy::MergeUsage(value, from_value);
  (void)from_value.ToolUses("web_search");
  return 0;
}
