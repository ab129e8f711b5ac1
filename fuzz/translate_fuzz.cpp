// The reference's chat call, `{model, messages, ...}` in OpenAI's shape, read and translated for
// each provider. Promises checked: what goes upstream is JSON, and OpenAI gets the app's own bytes
// unless the broker added a bound to them.

#include <boost/json.hpp>

#include "fuzz_input.hpp"
#include "proxy/translate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view body = fuzz::Text(data, size);
  for (proxy::Provider provider : proxy::kAllProviders) {
    proxy::ChatRequest request;  // one for each: a bound the broker adds goes into what it kept
    if (!request.Read(body) || request.Stream()) return 0;  // what /proxy/chat refuses before it builds
    auto call = proxy::BuildChatCall(provider, request, std::string(body), true);
    if (!call) continue;
    boost::system::error_code ec;
    (void)boost::json::parse(call->upstream.body, ec);
    if (ec) fuzz::Broken("a translated call is JSON");
    if (provider == proxy::Provider::kOpenAI && !call->asked.body_changed && call->upstream.body != body)
      fuzz::Broken("OpenAI gets the app's bytes");
  }
  return 0;
}
