#include "api/native_api.hpp"

#include <algorithm>
#include <cctype>

#include "api/relayed_call.hpp"
#include "http/cookies.hpp"
#include "http/fields.hpp"
#include "http/response.hpp"
#include "http/server.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/errors.hpp"
#include "proxy/relay.hpp"

namespace ap::api {
namespace bhttp = http::bhttp;
using boost::asio::awaitable;
using http::Request;
using http::Response;
using proxy::NativeEndpoint;
using proxy::ProviderEndpoint;

namespace {

// The delegated token, wherever the app's SDK puts its API key; `dpop` when it came as
// `Authorization: DPoP` (only there can a proof go with it). `token` views the request, or `query_key`.
struct AppToken {
  std::string_view token;
  bool dpop = false;
};

Result<AppToken> AppCredential(const Request& req, std::string& query_key) {
  if (http::FirstValue(req, bhttp::field::authorization)) {
    auto presented = http::AccessToken(req);
    if (!presented) return presented.error();
    return AppToken{presented->token, presented->dpop};
  }
  for (std::string_view header : {"x-api-key", "x-goog-api-key"})
    if (auto it = req.find(header); it != req.end() && !it->value().empty()) return AppToken{it->value()};
  if (query_key = http::QueryValue(req.target(), "key"); !query_key.empty()) return AppToken{query_key};
  return MakeError(Errc::kUnauthorized,
                   "Missing credential: send the delegated token as 'Authorization: Bearer <token>', "
                   "'x-api-key' or 'x-goog-api-key'");
}

// What the app presented, checked before its grant is looked up: the query to forward, and the
// credential (which may view `query_key`).
struct Presented {
  std::string query;
  AppToken credential;
};

Result<Presented> Present(const Request& req, std::string& query_key) {
  auto query = proxy::ForwardedQuery(req.target());
  if (!query) return query.error();
  auto credential = AppCredential(req, query_key);
  if (!credential) return credential.error();
  return Presented{std::move(*query), *credential};
}

// The checks once the grant is known: it is for this provider, and its owner has a key to spend.
Status Permit(RelayedCall& call, const domain::Grant& g, const ProviderEndpoint& provider) {
  if (g.scope.provider != provider.name)
    return MakeError(Errc::kForbidden,
                     "This token is for " + g.scope.provider + "; it cannot be used on " + provider.name + "'s paths");
  return call.TakeKey(provider);
}

// One provider-native call. `upstream_path` is the path under the provider's base; `model` is set
// for Gemini's paths (the path names it). The checks and the relay are in this one coroutine: a
// frame costs every call some 500 instructions.
awaitable<Response> RunNative(BrokerContext& ctx, const NativeEndpoint& ep, const ProviderEndpoint& provider,
                              Request& req, http::Exchange& exchange, std::string_view upstream_path,
                              std::string_view model) {
  CallKind kind{ep.capability.empty() ? std::string_view("models") : ep.capability, ep.capability, ep.counted,
                ep.wire, req.version(), req.target()};
  RelayedCall call(ctx, exchange, kind);
  if (!model.empty()) call.SetModel(model);
  std::string query_key;
  auto presented = Present(req, query_key);
  Status permitted = presented ? Status() : Status(presented.error());
  if (permitted) {
    const AppToken& credential = presented->credential;
    auto authorized = call.AuthorizeAtOnce(req, credential.token, credential.dpop);
    if (!authorized) authorized = co_await call.AuthorizeFurther(req, credential.token, credential.dpop);
    permitted = *authorized ? Permit(call, call.Grant(), provider) : *authorized;
  }
  proxy::Reply answer;
  if (!permitted) {
    answer = call.Refusal(permitted.error());
  } else {
    std::string with_query;
    std::string_view target = upstream_path;
    if (!presented->query.empty()) {
      with_query.reserve(upstream_path.size() + presented->query.size());
      target = with_query.append(upstream_path).append(presented->query);
    }
    proxy::Relay relay(ctx.upstream, provider, call.ApiKey(), call.Grant(), exchange, call);
    answer = co_await relay.Native(ep, req, target, model);
    call.AddQuotedKeyAnswers(relay.QuotedKeyAnswers());
  }
  if (!call.Finished()) co_await call.Finish(answer);
  if (!answer) co_return Response{};  // sent: the server sends nothing more
  co_return std::move(*answer);
}

// Letters, digits, '.', '-' and '_': every Gemini model id, and nothing that could change the path.
bool IsPlainModelId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && id.find("..") == std::string_view::npos &&
         std::all_of(id.begin(), id.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; });
}

// Gemini names the model in the path: "models/{model}:{action}".
awaitable<Response> GeminiModelCall(BrokerContext& ctx, const ProviderEndpoint& provider, std::string version,
                                    Request& req, const http::PathParams& params, http::Exchange& exchange) {
  std::string_view call = params.Get("call");
  size_t colon = call.rfind(':');
  const NativeEndpoint* ep = colon == std::string_view::npos ? nullptr : proxy::GeminiAction(call.substr(colon));
  if (!ep || colon == 0) {
    Error e = MakeError(Errc::kNotFound, "Unknown Gemini method '" + std::string(call) + "'");
    co_return proxy::ProviderErrorResponse(proxy::Provider::kGoogle, e, req.version());
  }
  std::string model(call.substr(0, colon));
  if (!IsPlainModelId(model)) {
    // An escaped '/' or '..' could lead the provider to another of its resources, with the broker's key.
    Error e = MakeError(Errc::kBadRequest, "Invalid model name '" + model + "'");
    co_return proxy::ProviderErrorResponse(proxy::Provider::kGoogle, e, req.version());
  }
  std::string path = "/" + version + "/models/" + std::string(call);
  co_return co_await RunNative(ctx, *ep, provider, req, exchange, path, model);
}

void AddOpenAIStyle(http::Router& router, BrokerContext& ctx, const ProviderEndpoint& provider, proxy::Provider wire,
                    std::string prefix) {
  for (const NativeEndpoint& ep : proxy::NativeEndpoints()) {
    if (ep.wire != wire) continue;
    auto handler = [&ctx, &ep, &provider](Request& req, const http::PathParams&, http::Exchange& exchange) {
      return RunNative(ctx, ep, provider, req, exchange, ep.path, "");
    };
    http::Body body = ep.model_in == proxy::ModelIn::kMultipart ? http::Body::kStreamed : http::Body::kWhole;
    router.Add(ep.method, prefix + std::string(ep.path), std::move(handler), body);
  }
}

}  // namespace

void AddNativeRoutes(http::Router& router, BrokerContext& ctx) {
  const proxy::ProviderTable& table = ctx.upstream.Table();
  for (const ProviderEndpoint& provider : table.endpoints) {
    if (provider.wire == proxy::Provider::kGoogle) continue;
    AddOpenAIStyle(router, ctx, provider, provider.wire, "/" + provider.name);
  }
  const ProviderEndpoint& google = table.For(proxy::Provider::kGoogle);
  for (std::string version : {"v1beta", "v1"}) {
    auto model_call = [&ctx, &google, version](Request& req, const http::PathParams& params, http::Exchange& ex) {
      return GeminiModelCall(ctx, google, version, req, params, ex);
    };
    router.Add(http::Verb::post, "/gemini/" + version + "/models/:call", model_call);
    const NativeEndpoint* list = nullptr;
    for (const auto& ep : proxy::NativeEndpoints())
      if (ep.wire == proxy::Provider::kGoogle && ep.method == http::Verb::get) list = &ep;
    auto list_models = [&ctx, &google, list, path = "/" + version + "/models"](
                           Request& req, const http::PathParams&, http::Exchange& ex) {
      return RunNative(ctx, *list, google, req, ex, path, "");
    };
    router.Add(http::Verb::get, "/gemini/" + version + "/models", list_models);
  }
}

}  // namespace ap::api
