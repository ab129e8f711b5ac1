#include "proxy/upstream.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace ap::proxy {

namespace {

constexpr std::string_view kAnthropicVersion = "2023-06-01";
constexpr size_t kRefusalLimit = 1 << 20;  // a provider's refusal is small

// Whether the provider refused the broker's own key (Gemini says so with a 400).
bool RejectsBrokerKey(Provider wire, unsigned status, std::string_view body) {
  if (status == 401 || status == 403) return true;
  return wire == Provider::kGoogle && status == 400 && body.find("API_KEY_INVALID") != std::string_view::npos;
}

// What the app gets for a failed exchange, and what the operator reads in the log.
Error Unreachable(const ProviderEndpoint& endpoint, Error e) {
  spdlog::warn("{} call failed: {}", endpoint.name, e.message);  // host, stage and cause; the app gets less
  if (e.code != Errc::kUpstreamTimeout) e.code = Errc::kUpstream;  // a refusal too large is the provider's fault
  e.message = endpoint.name + (e.code == Errc::kUpstreamTimeout ? " did not answer in time" : " could not be reached");
  return e;
}

// The provider's Retry-After in seconds (1 to an hour), or 0: none, a date, or past the bound.
int RetryAfterSeconds(const http::ResponseHead& head) {
  auto field = head.find(http::bhttp::field::retry_after);
  if (field == head.end()) return 0;
  std::string_view text = field->value();
  int seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || seconds < 1 || seconds > 3600) return 0;
  return seconds;
}

// The provider's answer if the app may see it, or the broker's error.
Result<http::Response> Judge(const ProviderEndpoint& endpoint, AnswerFilter filter, const http::ResponseHead& head,
                             std::string body) {
  unsigned status = head.result_int();
  if (RejectsBrokerKey(endpoint.wire, status, body)) {
    spdlog::warn("{} refused the broker's API key (HTTP {})", endpoint.name, status);
    Error refused = MakeError(Errc::kUpstream, endpoint.name + " refused the broker's API key (HTTP " +
                                                   std::to_string(status) + "); the owner must check it");
    refused.provider_answered = true;
    return refused;
  }
  if (status >= 500) {
    spdlog::warn("{} failed (HTTP {})", endpoint.name, status);
    Error failed = MakeError(Errc::kUpstream, endpoint.name + " failed (HTTP " + std::to_string(status) + ")");
    failed.retry_after_seconds = RetryAfterSeconds(head);  // an overloaded provider's (503, Anthropic's 529)
    failed.provider_answered = true;
    return failed;
  }
  return filter.Whole(head, std::move(body));
}

// A coded answer, which the broker could neither read for usage nor scrub of keys. One the provider
// did (a success) may be billed: it is charged its worst case.
Error Coded(const ProviderEndpoint& endpoint, unsigned status) {
  spdlog::warn("{} answered in a content coding (HTTP {}), though asked for none; not relayed", endpoint.name, status);
  Error e = MakeError(Errc::kUpstream, endpoint.name +
                                           " answered compressed (Content-Encoding), which the broker "
                                           "cannot read, though it asked for no compression");
  e.sent_unanswered = status / 100 == 2;
  e.provider_answered = status / 100 != 2;
  return e;
}

// Adds the key's field; false when the key cannot be sent (a line break in it would end its line).
bool AddKeyField(const ProviderEndpoint& endpoint, std::string_view api_key, http::CallHead& call) {
  switch (endpoint.wire) {
    case Provider::kOpenAI:
    {
      std::string bearer;  // one allocation, no temporaries holding the key
      bearer.reserve(7 + api_key.size());
      bearer.append("Bearer ").append(api_key);
      return call.Add("Authorization", bearer);
    }
    case Provider::kAnthropic:
      if (!call.Has("anthropic-version")) call.Add("anthropic-version", kAnthropicVersion);
      return call.Add("x-api-key", api_key);
    case Provider::kGoogle:
      return call.Add("x-goog-api-key", api_key);
  }
  return false;
}

// Adds the key (none for a keyless local server), or says why it cannot go: nothing is sent then.
// The vault takes printable keys only; one from the environment may hold a line break.
Status AddKey(const ProviderEndpoint& endpoint, std::string_view api_key, http::CallHead& call) {
  if (api_key.empty() || AddKeyField(endpoint, api_key, call)) return {};
  spdlog::error("the {} key spent by a call holds a line break, so it cannot be sent; replace it", endpoint.name);
  return MakeError(Errc::kUpstream, "the owner's " + endpoint.name +
                                        " key cannot be sent (it holds a line break); the owner must replace it");
}

}  // namespace

boost::asio::awaitable<Result<OpenAnswer>> Upstream::Open(const ProviderEndpoint& endpoint, std::string_view api_key,
                                                          ScrubHits* hits, http::CallHead& call, http::CallBody body,
                                                          std::function<bool()> unwanted) {
  if (auto ready = Prepare(endpoint, api_key, call); !ready) co_return ready.error();
  auto answer = co_await Send(endpoint, call, std::move(body), std::move(unwanted));
  if (auto opened = Opened(endpoint, answer)) co_return std::move(*opened);
  co_return co_await ReadRefusal(endpoint, api_key, hits, std::move(*answer));
}

Status Upstream::Prepare(const ProviderEndpoint& endpoint, std::string_view api_key, http::CallHead& call) const {
  call.target.insert(0, endpoint.base.path_prefix);
  call.Add("User-Agent", "aipassport/0.1");
  call.Add("Accept-Encoding", "identity");  // without it, any coding would do (RFC 9110, 12.5.3)
  return AddKey(endpoint, api_key, call);
}

// Not a coroutine: the caller awaits the client's exchange itself.
boost::asio::awaitable<Result<std::unique_ptr<http::UpstreamAnswer>>> Upstream::Send(const ProviderEndpoint& endpoint,
                                                                                     const http::CallHead& call,
                                                                                     http::CallBody body,
                                                                                     std::function<bool()> unwanted) {
  return client_.Open(endpoint.base, call, std::move(body), AnswerFilter::ReadFields(), std::move(unwanted));
}

std::optional<Result<OpenAnswer>> Upstream::Opened(const ProviderEndpoint& endpoint,
                                                   Result<std::unique_ptr<http::UpstreamAnswer>>& answer) const {
  using Opening = Result<OpenAnswer>;
  if (!answer) return Opening(Unreachable(endpoint, answer.error()));
  unsigned status = (*answer)->Head().result_int();
  if (IsCoded((*answer)->Head())) return Opening(Coded(endpoint, status));  // closing the connection cancels it
  if (status / 100 == 2) return Opening(OpenAnswer{std::move(*answer), {}});
  // Never followed, nor passed on: the app would take its credentials wherever it points.
  if (status / 100 == 3) {
    spdlog::warn("{} answered with a redirect (HTTP {}); not followed", endpoint.name, status);
    return Opening(MakeError(Errc::kUpstream, endpoint.name + " answered with a redirect (HTTP " +
                                                  std::to_string(status) + "), which the broker does not follow"));
  }
  return std::nullopt;
}

boost::asio::awaitable<Result<OpenAnswer>> Upstream::ReadRefusal(const ProviderEndpoint& endpoint,
                                                                 std::string_view api_key, ScrubHits* hits,
                                                                 std::unique_ptr<http::UpstreamAnswer> answer) {
  auto text = co_await answer->ReadRest(kRefusalLimit);
  if (!text) {
    Error unread = Unreachable(endpoint, text.error());
    unread.provider_answered = true;  // with a refusal of its own, whatever it said
    co_return unread;
  }
  auto judged = Judge(endpoint, Filter(endpoint, api_key, hits), answer->Head(), std::move(*text));
  if (!judged) co_return judged.error();
  co_return OpenAnswer{nullptr, std::move(*judged)};
}

}  // namespace ap::proxy
