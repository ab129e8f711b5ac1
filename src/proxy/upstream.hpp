#pragma once
// Sends calls to the providers with the broker's key, and decides what of the answer reaches the
// app: successful answers and the provider's own 4xx verdicts on the request pass through as the
// provider sent them; a rejected broker key or a provider failure becomes the broker's 502/504,
// without the provider's text (it can quote part of the key). Every such failure is logged for
// the operator with its cause, never with the key.
// Thread-safety: Send and Open may be called from any coroutine.

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "http/client.hpp"
#include "proxy/providers.hpp"
#include "proxy/translate.hpp"

namespace ap::proxy {

// An upstream answer for the app: a successful one still open for reading (it may stream), or a
// refusal of the app's request, read whole.
struct OpenAnswer {
  std::unique_ptr<http::UpstreamAnswer> open;  // set for 2xx
  http::Response refusal;                      // otherwise
};

// A successful answer for the app, with the provider's content type and request ids.
http::Response PassOn(const http::ResponseHead& head, std::string body);

class Upstream {
 public:
  Upstream(http::HttpClient& client, ProviderTable table) : client_(client), table_(std::move(table)) {}

  const ProviderTable& Table() const { return table_; }
  // The reference's chat call, answered whole. `api_key` is the owner's key for the provider
  // (empty for a keyless server); the caller keeps it alive until the call returns.
  boost::asio::awaitable<Result<http::Response>> Send(const ProviderEndpoint& endpoint, std::string_view api_key,
                                                      UpstreamCall call);
  // A provider-native call: `request` targets a path under the provider's base and carries no
  // credential of the app's; `api_key` is added here. With `body`, the body streams.
  boost::asio::awaitable<Result<OpenAnswer>> Open(const ProviderEndpoint& endpoint, std::string_view api_key,
                                                  http::Request request, http::BodySource body = {});

 private:
  http::HttpClient& client_;
  ProviderTable table_;
};

}  // namespace ap::proxy
