#pragma once
// Sends calls to the providers with the broker's key, and decides what of the answer reaches the
// app: successful answers and the provider's own 4xx verdicts on the request pass through as the
// provider sent them, except for any key material (answer_filter.hpp); a rejected broker key or a
// provider failure becomes the broker's 502/504, without the provider's text. Every such failure
// is logged for the operator with its cause, never with the key.
// Thread-safety: Open (and its steps) and Filter may be called from any coroutine;
// Scrubber().Update from any thread.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "http/client.hpp"
#include "proxy/answer_filter.hpp"
#include "proxy/key_scrubber.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {

// An upstream answer for the app: a successful one still open for reading (it may stream; relay
// it through Filter), or a refusal of the app's request, read whole and filtered.
struct OpenAnswer {
  std::unique_ptr<http::UpstreamAnswer> open;  // set for 2xx
  http::Response refusal;                      // otherwise
};

class Upstream {
 public:
  Upstream(http::HttpClient& client, ProviderTable table) : client_(client), table_(std::move(table)) {}

  const ProviderTable& Table() const { return table_; }
  // Every provider key the broker holds, kept out of the answers apps get.
  KeyScrubber& Scrubber() { return scrubber_; }
  // What of one answer from `endpoint` reaches the app; every 2xx answer Open returns goes
  // through one.
  AnswerFilter Filter(const ProviderEndpoint& endpoint, std::string_view api_key, ScrubHits* hits = nullptr) const {
    return AnswerFilter(scrubber_.For(api_key), endpoint.name, hits);
  }
  // A call for the relay: `call` targets a path under the provider's base and carries no
  // credential of the app's; the base's path, the broker's User-Agent and `api_key` (none for a
  // keyless server) are added here. `hits` (may be null) counts a refusal that had key material
  // removed. `unwanted`: HttpClient::Open's, asked while the call is in flight.
  boost::asio::awaitable<Result<OpenAnswer>> Open(const ProviderEndpoint& endpoint, std::string_view api_key,
                                                  ScrubHits* hits, http::CallHead& call, http::CallBody body,
                                                  std::function<bool()> unwanted = {});

  // Open in steps, for a caller that awaits the exchange in its own frame (a frame less a call):
  // Prepare adds to `call` what Open adds, or says why it cannot go; Send sends it and gives the
  // answer as it came (`endpoint` and `call` must last until it completes); Opened says what that
  // is, at once unless it is a refusal whose body must be read first, which ReadRefusal does.
  Status Prepare(const ProviderEndpoint& endpoint, std::string_view api_key, http::CallHead& call) const;
  boost::asio::awaitable<Result<std::unique_ptr<http::UpstreamAnswer>>> Send(const ProviderEndpoint& endpoint,
                                                                             const http::CallHead& call,
                                                                             http::CallBody body,
                                                                             std::function<bool()> unwanted = {});
  std::optional<Result<OpenAnswer>> Opened(const ProviderEndpoint& endpoint,
                                           Result<std::unique_ptr<http::UpstreamAnswer>>& answer) const;
  boost::asio::awaitable<Result<OpenAnswer>> ReadRefusal(const ProviderEndpoint& endpoint, std::string_view api_key,
                                                         ScrubHits* hits, std::unique_ptr<http::UpstreamAnswer> answer);

 private:
  http::HttpClient& client_;
  ProviderTable table_;
  KeyScrubber scrubber_;
};

}  // namespace ap::proxy
