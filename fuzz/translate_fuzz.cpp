// The reference's chat call, `{model, messages, ...}` in OpenAI's shape, translated for each
// provider. Promise checked: what goes upstream is JSON.

#include <boost/json.hpp>

#include "fuzz_input.hpp"
#include "proxy/translate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view body = fuzz::Text(data, size);
  auto request = proxy::ParseChatRequest(body);
  if (!request) return 0;
  for (proxy::Provider provider : proxy::kAllProviders) {
    auto call = proxy::BuildChatCall(provider, *request, body);
    if (!call) continue;
    auto sent = std::move(*call).ToSend(provider != proxy::Provider::kOpenAI);
    boost::system::error_code ec;
    (void)boost::json::parse(sent.body, ec);
    if (ec) fuzz::Broken("a translated call is JSON");
  }
  return 0;
}
