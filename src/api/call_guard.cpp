#include "api/call_guard.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <mutex>
#include <unordered_map>

#include "api/shared_checks.hpp"
#include "http/response.hpp"
#include "proxy/worst_case.hpp"

namespace ap::api {
using boost::asio::awaitable;

awaitable<Result<domain::Grant>> LoadGrant(BrokerContext& ctx, std::string id) {
  auto read = [id](store::Store& s) { return s.Grants().GetGrant(id); };
  auto record = co_await OnStore(ctx, std::move(read));
  if (!record) co_return record.error();
  co_return domain::GrantFromRecord(std::move(*record));
}

namespace {

// How far behind the change feed (read every 200 ms) the cache is trusted. Past it (the broker was
// paused, its machine suspended, its store thread held up), a grant revoked meanwhile on another
// broker may still be cached: grants are read from the store until the feed is read again. A read
// that fails for want of the database (lost) falls back on the cache, until follower_max_age, the
// node timeout, after which peers count this broker's leases as lost (README, Running several
// brokers): calls within its leases go on meanwhile.
constexpr std::chrono::milliseconds kCacheTrusted{2000};

// The cached grant; null when the store must be asked (GrantFromStore). Refused when this broker
// cannot vouch that it knows of every revocation.
Result<std::shared_ptr<const domain::Grant>> GrantInCache(BrokerContext& ctx, const std::string& id) {
  if (!ctx.follower) return ctx.grants.Find(id);
  std::chrono::nanoseconds behind = ctx.follower->Behind();  // one clock read a call
  if (behind > ctx.follower_max_age)
    return MakeError(Errc::kUnavailable,
                     "This broker cannot reach its database to learn of revocations; the call was not sent");
  if (behind > kCacheTrusted) return std::shared_ptr<const domain::Grant>();
  return ctx.grants.Find(id);
}

// The grant from the store, which the cache learns (after GrantInCache's check of the follower);
// a newer one the cache already holds wins.
awaitable<Result<std::shared_ptr<const domain::Grant>>> GrantFromStore(BrokerContext& ctx, const std::string& id) {
  auto grant = co_await LoadGrant(ctx, id);
  if (grant) co_return ctx.grants.Put(std::move(*grant));
  // The database lost: the cached grant, while this broker is still within the node timeout.
  if (grant.error().code == Errc::kUnavailable && ctx.follower && ctx.follower->CaughtUpWithin(ctx.follower_max_age))
    if (auto cached = ctx.grants.Find(id)) co_return cached;
  co_return grant.error();
}

}  // namespace

awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeBearer(BrokerContext& ctx,
                                                                        const http::Request& request,
                                                                        TokenFacts* facts) {
  auto presented = http::AccessToken(request);
  if (!presented) {
    if (facts && request.find(http::bhttp::field::authorization) != request.end())
      facts->fault = TokenFault::kInvalidToken;
    co_return presented.error();
  }
  co_return co_await AuthorizeToken(ctx, request, presented->token, presented->dpop, facts);
}

namespace {

// RFC 9449 §7: the proof of a bound token's key, for this request and this token.
awaitable<Status> CheckPossession(BrokerContext& ctx, const http::Request& request, std::string_view token, bool dpop,
                                  const domain::TokenClaims& claims) {
  if (claims.jkt.empty()) {
    if (dpop) co_return MakeError(Errc::kUnauthorized, "This token is not DPoP-bound: send it as 'Bearer <token>'");
    co_return Status{};
  }
  if (!dpop)
    co_return MakeError(Errc::kUnauthorized,
                        "This token is DPoP-bound: send it as 'Authorization: DPoP <token>' with a DPoP proof");
  std::vector<std::string_view> proofs = http::DpopProofs(request);
  std::string_view target = request.target();
  std::string url = ctx.public_url + std::string(target.substr(0, target.find('?')));
  domain::DpopRequest proof{proofs, request.method_string(), url, token, false, claims.jkt};
  auto jkt = co_await CheckDpopProof(ctx, proof);  // by the token's key: domain::DpopRequest::key
  if (!jkt) co_return jkt.error();
  co_return Status{};
}

// A token bound to resources (RFC 8707) works only under them; one with the default audience, or
// bound to the broker itself, works everywhere.
Status CheckAudience(const BrokerContext& ctx, const http::Request& request, const domain::TokenClaims& claims) {
  const std::string& everywhere = ctx.tokens.DefaultAudience();
  for (const std::string& aud : claims.audiences)
    if (aud == everywhere || aud == ctx.public_url) return {};
  if (ctx.resources.empty()) return {};
  std::string here = ResourceUrl(ctx.public_url, ResourceOf(ctx.resources, request.target()));
  for (const std::string& aud : claims.audiences)
    if (aud == here) return {};
  return MakeError(Errc::kUnauthorized, "This token is for " + domain::JoinForHumans(claims.audiences) +
                                            "; it cannot be used on " + here);
}

}  // namespace

namespace {

using GrantRef = std::shared_ptr<const domain::Grant>;

// The token's signature, lifetime and audience, its claims kept in `facts`.
Status CheckClaims(BrokerContext& ctx, const http::Request& request, std::string_view token, bool dpop,
                   TokenFacts& facts) {
  facts.fault = TokenFault::kInvalidToken;  // until it passes
  facts.dpop = dpop;
  auto checked = ctx.tokens.Verify(token);
  if (!checked) return checked.error();
  facts.claims = std::move(*checked);
  facts.dpop = !facts.claims->jkt.empty();
  return CheckAudience(ctx, request, *facts.claims);
}

// The refusal when the token's grant could not be found (`error`).
Error NoGrant(const Error& error) {
  if (error.code == Errc::kNotFound) return MakeError(Errc::kUnauthorized, "Associated grant not found");
  return error;
}

// Whether a token that needs a DPoP proof was presented (a bound token, or one sent as DPoP).
bool NeedsProof(const TokenFacts& facts, bool dpop) { return facts.dpop || dpop; }

// Refused when `grant` cannot be used now. A proof is checked, and its jti kept against replays,
// only for a token whose grant is usable: the token of a revoked grant cannot fill the replay store
// that every DPoP call needs. Such a call, its key unproven, is not put on the grant's record.
Status CheckUsable(const BrokerContext& ctx, const GrantRef& grant, bool proof, TokenFacts& facts) {
  if (auto unusable = domain::UnusableReason(grant->record, ctx.clock())) {
    if (!proof) facts.grant = grant;
    return *unusable;
  }
  return {};
}

GrantRef Authorized(const GrantRef& grant, TokenFacts& facts) {
  facts.grant = grant;
  facts.fault = TokenFault::kNone;
  return grant;
}

}  // namespace

std::optional<Result<GrantRef>> AuthorizeTokenAtOnce(BrokerContext& ctx, const http::Request& request,
                                                     std::string_view token, bool dpop, TokenFacts& facts) {
  if (auto claimed = CheckClaims(ctx, request, token, dpop, facts); !claimed) return claimed.error();
  auto grant = GrantInCache(ctx, facts.claims->grant_id);
  if (!grant) return NoGrant(grant.error());
  if (!*grant) return std::nullopt;  // in the store
  bool proof = NeedsProof(facts, dpop);
  if (auto usable = CheckUsable(ctx, *grant, proof, facts); !usable) return usable.error();
  if (proof) return std::nullopt;
  return Authorized(*grant, facts);
}

awaitable<Result<GrantRef>> AuthorizeTokenFurther(BrokerContext& ctx, const http::Request& request,
                                                  std::string_view token, bool dpop, TokenFacts& facts) {
  const domain::TokenClaims& claims = *facts.claims;
  auto grant = GrantInCache(ctx, claims.grant_id);
  if (grant && !*grant) grant = co_await GrantFromStore(ctx, claims.grant_id);
  if (!grant) co_return NoGrant(grant.error());
  bool proof = NeedsProof(facts, dpop);
  if (auto usable = CheckUsable(ctx, *grant, proof, facts); !usable) co_return usable.error();
  if (proof) {
    if (auto possessed = co_await CheckPossession(ctx, request, token, dpop, claims); !possessed) {
      if (facts.dpop) facts.fault = TokenFault::kInvalidProof;
      co_return possessed.error();
    }
  }
  co_return Authorized(*grant, facts);
}

awaitable<Result<GrantRef>> AuthorizeToken(BrokerContext& ctx, const http::Request& request, std::string_view token,
                                           bool dpop, TokenFacts* given) {
  TokenFacts unkept;
  TokenFacts& facts = given ? *given : unkept;
  if (auto decided = AuthorizeTokenAtOnce(ctx, request, token, dpop, facts)) co_return std::move(*decided);
  co_return co_await AuthorizeTokenFurther(ctx, request, token, dpop, facts);
}

// The capability a model's answers need beyond text, as its name says: images for an image model
// (gpt-image-1, gemini-2.5-flash-image, imagen-4.0-generate-001), audio for a speech one (tts-1,
// gpt-4o-mini-tts, gemini-2.5-flash-preview-tts); empty for any other.
std::string_view OutputCapabilityOfModel(std::string_view model) {
  // In any case: a provider may read a model's id so.
  using boost::beast::iequals;
  for (size_t at = 0; at <= model.size();) {
    size_t end = std::min(model.find('-', at), model.size());
    std::string_view part = model.substr(at, end - at);
    if (iequals(part, "image") || (at == 0 && iequals(part, "imagen"))) return "images";
    if (iequals(part, "tts")) return "audio";
    at = end + 1;
  }
  return {};
}

Result<const proxy::ProviderEndpoint*> CheckScope(const BrokerContext& ctx, const domain::Grant& grant,
                                                  std::string_view capability, std::string_view model) {
  const domain::Scope& scope = grant.scope;
  if (!model.empty() && !domain::IsModelId(model))
    return MakeError(Errc::kBadRequest, "Invalid model name: expected at most " + std::to_string(domain::kMaxModelId) +
                                            " letters, digits and . - _ : / @");
  if (!scope.AllowsCapability(capability))
    return MakeError(Errc::kForbidden, "This grant does not allow " + std::string(capability) + "; it allows " +
                                           (scope.capabilities.empty() ? std::string("nothing")
                                                                       : domain::JoinForHumans(scope.capabilities)));
  if (!scope.AllowsModel(model))
    return MakeError(Errc::kForbidden, "Model '" + std::string(model) + "' is not allowed by this grant; allowed: " +
                                           domain::JoinForHumans(scope.models));
  // Whatever the path, such a model answers in images or speech: the grant must allow that too.
  if (std::string_view output = OutputCapabilityOfModel(model); !output.empty() && !scope.AllowsCapability(output))
    return MakeError(Errc::kForbidden, "Model '" + std::string(model) + "' answers with " +
                                           (output == "images" ? "images" : "speech") +
                                           ", and this grant does not allow " + std::string(output));
  const proxy::ProviderEndpoint* endpoint = ctx.upstream.Table().Find(scope.provider);
  if (!endpoint) return MakeError(Errc::kUnavailable, "The broker does not serve provider '" + scope.provider + "'");
  return endpoint;
}

Status CheckToolScope(const domain::Grant& grant, const proxy::WorstCase& worst) {
  const domain::Scope& scope = grant.scope;
  if (worst.tool_makes_images && !scope.AllowsCapability("images"))
    return MakeError(Errc::kForbidden, "This grant does not allow images, which the 'image_generation' tool makes");
  if (!worst.tool_runs_code.empty() && !scope.AllowsCapability("code"))
    return MakeError(Errc::kForbidden, "This grant does not allow code, which the '" + worst.tool_runs_code +
                                           "' tool runs in the provider's sandbox");
  if (worst.answers_images && !scope.AllowsCapability("images"))
    return MakeError(Errc::kForbidden,
                     "This grant does not allow images, which the call asks its answer to hold "
                     "('responseModalities')");
  if (worst.answers_audio && !scope.AllowsCapability("audio"))
    return MakeError(Errc::kForbidden,
                     "This grant does not allow audio, which the call asks its answer to hold "
                     "('modalities', 'audio', 'responseModalities' or 'speechConfig')");
  // What a stored setup holds is out of sight: only a grant that allows all it could do may use one.
  if (!worst.stored_setup.empty() &&
      !(scope.AllowsCapability("images") && scope.AllowsCapability("code") && scope.AllowsAnyModel()))
    return MakeError(Errc::kForbidden, "'" + worst.stored_setup +
                                           "' runs the call with tools and settings stored at the provider, which "
                                           "the broker cannot check against this grant (they may make images, run "
                                           "code or name other models): it needs a grant that allows images, code "
                                           "and any model");
  if (worst.tool_model_unnamed && !scope.AllowsAnyModel())
    return MakeError(Errc::kForbidden,
                     "The 'image_generation' tool names no model, so OpenAI chooses one; name it "
                     "(its 'model') so that this grant can allow it");
  for (const std::string& model : worst.tool_models) {
    if (!domain::IsModelId(model))
      return MakeError(Errc::kBadRequest, "Invalid model name in a tool: expected at most " +
                                              std::to_string(domain::kMaxModelId) + " letters, digits and . - _ : / @");
    if (!scope.AllowsModel(model))
      return MakeError(Errc::kForbidden, "Model '" + model +
                                             "', named by a tool, is not allowed by this grant; allowed: " +
                                             domain::JoinForHumans(scope.models));
  }
  return {};
}

// Whether a grant's missing key is worth a log line now: once a minute per grant, so that an app
// retrying a refused call does not fill the log. Bounded: past 1,024 grants it starts over.
static bool LogKeyMissingNow(const std::string& grant_id, UnixSeconds now) {
  static std::mutex mutex;
  static std::unordered_map<std::string, UnixSeconds> logged_at;
  std::lock_guard lock(mutex);
  if (logged_at.size() >= 1024) logged_at.clear();
  auto [it, first] = logged_at.try_emplace(grant_id, now);
  if (!first && now - it->second < 60) return false;
  it->second = now;
  return true;
}

Result<vault::KeyRef> SpendingKey(const BrokerContext& ctx, const domain::Grant& grant,
                                  const proxy::ProviderEndpoint& endpoint) {
  if (endpoint.keyless) return vault::KeyRef();
  const store::GrantRecord& g = grant.record;
  std::string_view owner = g.owner_id ? std::string_view(*g.owner_id) : std::string_view(ctx.vault.OperatorId());
  std::string_view label = g.key_label ? std::string_view(*g.key_label) : vault::kEnvironmentLabel;
  vault::KeyRef key = ctx.vault.Find(owner, endpoint.name, label);
  if (!key) {
    if (LogKeyMissingNow(g.id, ctx.clock()))
      spdlog::warn("grant {}: its owner has no {} key labelled '{}'; its calls get key_missing", g.id, endpoint.name,
                   label);
    return MakeError(Errc::kKeyMissing,
                     "The owner of this grant has no " + endpoint.name + " key for it any more; the owner must add one");
  }
  // Written once a second at most: the key is shared by every thread's calls, and a store to its
  // line on every call takes the line from the others.
  UnixSeconds now = ctx.clock();
  if (key->last_used_at.load(std::memory_order_relaxed) != now) key->last_used_at.store(now, std::memory_order_relaxed);
  return key;
}

}  // namespace ap::api
