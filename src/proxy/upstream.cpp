#include "proxy/upstream.hpp"

#include <spdlog/spdlog.h>

namespace ap::proxy {
namespace bhttp = http::bhttp;

namespace {

constexpr std::string_view kAnthropicVersion = "2023-06-01";
constexpr std::string_view kPassedHeaders[] = {"content-type", "retry-after", "request-id", "x-request-id"};

http::Response Relay(http::Response& upstream) {
  http::Response out(upstream.result(), 11);
  for (std::string_view name : kPassedHeaders)
    if (auto it = upstream.find(name); it != upstream.end()) out.set(name, it->value());
  out.body() = std::move(upstream.body());
  out.prepare_payload();
  return out;
}

// Whether the provider refused the broker's own key (Gemini says so with a 400).
bool RejectsBrokerKey(Provider provider, unsigned status, std::string_view body) {
  if (status == 401 || status == 403) return true;
  return provider == Provider::kGoogle && status == 400 && body.find("API_KEY_INVALID") != std::string_view::npos;
}

}  // namespace

http::Request Upstream::BuildRequest(Provider provider, UpstreamCall& call) const {
  const ProviderEndpoint& endpoint = table_.For(provider);
  http::Request req(bhttp::verb::post, endpoint.base.path_prefix + call.path, 11);
  req.set(bhttp::field::content_type, "application/json");
  req.set(bhttp::field::accept, "application/json");
  req.set(bhttp::field::user_agent, "aipassport/0.1");
  switch (provider) {
    case Provider::kOpenAI:
      req.set(bhttp::field::authorization, "Bearer " + endpoint.api_key);
      break;
    case Provider::kAnthropic:
      req.set("x-api-key", endpoint.api_key);
      req.set("anthropic-version", kAnthropicVersion);
      break;
    case Provider::kGoogle:
      req.set("x-goog-api-key", endpoint.api_key);
      break;
  }
  req.body() = std::move(call.body);
  return req;
}

Status Upstream::RequireKey(Provider p) const {
  if (HasKey(p)) return {};
  return MakeError(Errc::kUnavailable,
                   "The broker has no API key for " + std::string(ProviderName(p)) + "; the owner must configure one");
}

boost::asio::awaitable<Result<http::Response>> Upstream::Send(Provider provider, UpstreamCall call) {
  if (auto key = RequireKey(provider); !key) co_return key.error();
  auto answer = co_await client_.Send(table_.For(provider).base, BuildRequest(provider, call));
  std::string_view name = ProviderName(provider);
  if (!answer) {
    Error e = answer.error();
    spdlog::warn("{} call failed: {}", name, e.message);  // host, stage and cause; the app gets less
    e.message =
        std::string(name) + (e.code == Errc::kUpstreamTimeout ? " did not answer in time" : " could not be reached");
    co_return e;
  }
  unsigned status = answer->result_int();
  if (RejectsBrokerKey(provider, status, answer->body())) {
    spdlog::warn("{} refused the broker's API key (HTTP {})", name, status);
    co_return MakeError(Errc::kUpstream, std::string(name) + " refused the broker's API key (HTTP " +
                                             std::to_string(status) + "); the owner must check it");
  }
  if (status >= 500) {
    spdlog::warn("{} failed (HTTP {})", name, status);
    co_return MakeError(Errc::kUpstream, std::string(name) + " failed (HTTP " + std::to_string(status) + ")");
  }
  co_return Relay(*answer);
}

}  // namespace ap::proxy
