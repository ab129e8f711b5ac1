#pragma once
// Sends calls to the providers with the broker's key, and decides what of the answer reaches the
// app: successful answers and the provider's own 4xx verdicts on the request pass through as the
// provider sent them; a rejected broker key or a provider failure becomes the broker's 502/504,
// without the provider's text (it can quote part of the key). Every such failure is logged for
// the operator with its cause, never with the key.
// Thread-safety: Send may be called from any coroutine.

#include <boost/asio/awaitable.hpp>

#include "http/client.hpp"
#include "proxy/providers.hpp"
#include "proxy/translate.hpp"

namespace ap::proxy {

class Upstream {
 public:
  Upstream(http::HttpClient& client, ProviderTable table) : client_(client), table_(std::move(table)) {}

  bool HasKey(Provider p) const { return !table_.For(p).api_key.empty(); }
  // kUnavailable, naming the provider, when the owner has configured no key for it.
  Status RequireKey(Provider p) const;
  boost::asio::awaitable<Result<http::Response>> Send(Provider provider, UpstreamCall call);

 private:
  http::Request BuildRequest(Provider provider, UpstreamCall& call) const;

  http::HttpClient& client_;
  ProviderTable table_;
};

}  // namespace ap::proxy
