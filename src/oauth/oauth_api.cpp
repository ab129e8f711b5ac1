#include "oauth/oauth_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "api/owner_session.hpp"
#include "api/shared_checks.hpp"
#include "core/base64url.hpp"
#include "core/ids.hpp"
#include "core/words.hpp"
#include "crypto/hash.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "http/url.hpp"
#include "oauth/authorization_details.hpp"
#include "oauth/client_metadata.hpp"
#include "oauth/client_registration.hpp"
#include "oauth/delegation.hpp"
#include "oauth/redirect_uri.hpp"
#include "oauth/resource_indicators.hpp"

namespace ap::oauth {
namespace json = boost::json;
namespace bhttp = http::bhttp;
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;

namespace {

constexpr int64_t kCodeSeconds = 60;
constexpr std::string_view kExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";
// RFC 8628 §6.1: consonants only, no vowels (no words) and nothing easily confused.
constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";

// Why `client` may not start the device flow, and how it could.
std::string NoDeviceGrant(const store::ClientRecord& client) {
  if (IsClientIdUrl(client.id))
    return "this app may not start the device flow: its client_id document must name "
           "urn:ietf:params:oauth:grant-type:device_code in grant_types";
  if (client.self_registered)
    return "this app may not start the device flow: an app registering itself asks for "
           "urn:ietf:params:oauth:grant-type:device_code in grant_types";
  if (!client.registered_by.empty())
    return "this app may not start the device flow: the owner who registered it may allow it on its page (/apps), "
           "or the broker's operator (aipassport client edit " +
           client.id + " --device-grant on)";
  return "this app may not start the device flow: the broker's operator may allow it (aipassport client edit " +
         client.id + " --device-grant on)";
}

// The grant types `client` may use (RFC 7591's grant_types).
json::array GrantTypesOf(const store::ClientRecord& client) {
  json::array types{"authorization_code", "refresh_token"};
  if (client.device_grant) types.emplace_back(kDeviceGrantType);
  return types;
}

std::string Encode(std::string_view text) {
  return boost::urls::encode(boost::urls::string_view(text.data(), text.size()), boost::urls::unreserved_chars);
}

// The app's redirect URI with `query` (a code or an error), its state and our iss (RFC 9207).
std::string BackToClient(const api::BrokerContext& ctx, const std::string& redirect_uri, const std::string& state,
                         const std::string& query) {
  std::string location = redirect_uri + (redirect_uri.find('?') == std::string::npos ? "?" : "&") + query;
  if (!state.empty()) location += "&state=" + Encode(state);
  return location + "&iss=" + Encode(ctx.issuer);
}

Response SeeOther(std::string_view location) {
  Response res(StatusCode::see_other, 11);
  res.set(bhttp::field::location, location);
  res.set(bhttp::field::cache_control, "no-store");
  res.prepare_payload();
  return res;
}

// An error for the app's own eyes, at its verified redirect URI (RFC 6749 §4.1.2.1).
Response RedirectError(const api::BrokerContext& ctx, const std::string& redirect_uri, const std::string& state,
                       std::string_view error, std::string_view description) {
  return SeeOther(BackToClient(ctx, redirect_uri, state,
                               "error=" + std::string(error) + "&error_description=" + Encode(description)));
}

// An error that cannot go to a verified redirect URI: shown to the person, never redirected.
Response ErrorPage(std::string_view message, StatusCode status = StatusCode::bad_request) {
  Response res(status, 11);
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Frame-Options", "DENY");
  res.body() = "The app's sign-in request cannot be used: " + std::string(message) + "\n";
  res.prepare_payload();
  return res;
}

// RFC 6749 §5.2.
Response TokenError(StatusCode status, std::string_view error, std::string_view description);

// The store could not be reached: nothing the request presented was used, and the client may send it again.
Response Unavailable() { return TokenError(StatusCode::service_unavailable, "temporarily_unavailable", "try again"); }

Response TokenError(StatusCode status, std::string_view error, std::string_view description) {
  Response res = http::JsonResponse(status, json::object{{"error", error}, {"error_description", description}});
  res.set(bhttp::field::cache_control, "no-store");
  res.set(bhttp::field::pragma, "no-cache");
  if (status == StatusCode::unauthorized) res.set(bhttp::field::www_authenticate, "Basic realm=\"aipassport\"");
  return res;
}

Response BadRequest(std::string_view error, std::string_view description) {
  return TokenError(StatusCode::bad_request, error, description);
}

// A refusal of the throttles or of a full table in RFC 6749 §5.2's shape: 429 slow_down (RFC 8628's
// word for "ask less often") or 503 temporarily_unavailable, with Retry-After.
Response TokenRefusal(const Error& error) {
  bool busy = error.code == Errc::kUnavailable;
  Response res = TokenError(busy ? StatusCode::service_unavailable : StatusCode::too_many_requests,
                            busy ? "temporarily_unavailable" : "slow_down", http::ShownMessage(error));
  http::SetRetryAfter(res, error);
  return res;
}

// A client that could not be authenticated: 401 invalid_client, unless the broker could not find out
// (its store unreachable, the metadata fetches all busy): then 503 temporarily_unavailable with
// Retry-After, so an app with good credentials is not told they are bad; 429 slow_down when its
// address caused too many metadata fetches.
Response ClientRefusal(const Error& error) {
  if (error.code == Errc::kRateLimited) return TokenRefusal(error);
  if (error.code != Errc::kUnavailable)
    return TokenError(StatusCode::unauthorized, "invalid_client", http::ShownMessage(error));
  Error busy = error;
  busy.message = "the broker cannot check this client right now; try again shortly";
  if (busy.retry_after_seconds <= 0) busy.retry_after_seconds = 5;
  return TokenRefusal(busy);
}

// Apps that registered themselves (RFC 7591): every page that lists apps stays small, and a flood of
// registrations from many addresses fills no disk.
constexpr int64_t kMaxSelfRegisteredClients = 1000;

Error TableFull(std::string_view what) {
  Error e = MakeError(Errc::kUnavailable, "Too many " + std::string(what) + " are waiting; try again later");
  e.retry_after_seconds = 60;
  return e;
}

// Whether `uri` names one of the client's registered redirect URIs (oauth/redirect_uri.hpp says how).
bool RedirectRegistered(const store::ClientRecord& client, std::string_view uri) {
  return std::any_of(client.redirect_uris.begin(), client.redirect_uris.end(),
                     [uri](const std::string& registered) { return RedirectMatches(registered, uri); });
}

// The host a client_id URL's metadata document came from; empty for a registered client.
std::string MetadataHost(const std::string& client_id) {
  return IsClientIdUrl(client_id) ? http::UrlHost(client_id) : "";
}

bool IsValidVerifier(std::string_view v) {
  return v.size() >= 43 && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
         });
}

// What a token request may ask beyond its grant type's own fields.
struct TokenAsk {
  std::vector<std::string> resources;  // RFC 8707 `resource`, each one of the broker's (CheckResources)
  std::string details;                 // authorization_details (RFC 9396 §6.2)
  std::string scope;
  bool AsksAnything() const { return !resources.empty() || !details.empty() || !scope.empty(); }
};

class OAuthApi {
 public:
  explicit OAuthApi(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> Metadata(Request&, const http::PathParams&, http::Exchange&) {
    const std::string& base = ctx_.public_url;
    json::object m{
        {"issuer", ctx_.issuer},
        {"authorization_endpoint", base + "/oauth/authorize"},
        {"token_endpoint", base + "/oauth/token"},
        {"jwks_uri", base + "/.well-known/jwks.json"},
        {"response_types_supported", json::array{"code"}},
        {"response_modes_supported", json::array{"query"}},
        {"grant_types_supported",
         json::array{"authorization_code", "refresh_token", kDeviceGrantType, kExchangeGrantType}},
        {"device_authorization_endpoint", base + "/oauth/device_authorization"},
        {"revocation_endpoint", base + "/oauth/revoke"},
        {"introspection_endpoint", base + "/oauth/introspect"},
        {"code_challenge_methods_supported", json::array{"S256"}},
        {"token_endpoint_auth_methods_supported", json::array{"none", "client_secret_basic", "client_secret_post"}},
        {"authorization_details_types_supported", json::array{"ai_access"}},
        {"authorization_response_iss_parameter_supported", true},
        {"dpop_signing_alg_values_supported", json::array{"EdDSA", "Ed25519", "ES256"}},
        {"scopes_supported", json::array{"openai:chat", "anthropic:chat", "google:chat"}}};
    if (ctx_.dynamic_registration) m["registration_endpoint"] = base + "/oauth/register";
    if (ctx_.client_metadata && ctx_.client_metadata->Enabled()) m["client_id_metadata_document_supported"] = true;
    Response res = http::JsonResponse(StatusCode::ok, m);
    res.set(bhttp::field::cache_control, "public, max-age=300");
    co_return res;
  }

  // RFC 9728 §3: what a protected resource tells a client about itself and its authorization server.
  Response ResourceMetadata(const api::ProtectedResource& resource) const {
    const std::string& base = ctx_.public_url;
    json::object m{{"resource", api::ResourceUrl(base, resource)},
                   {"authorization_servers", json::array{json::string(ctx_.issuer)}},
                   {"bearer_methods_supported", json::array{"header"}},
                   {"dpop_signing_alg_values_supported", json::array{"EdDSA", "Ed25519", "ES256"}},
                   {"resource_name", resource.name},
                   {"resource_documentation", resource.documentation.empty() ? base + "/" : resource.documentation}};
    // What an MCP client asks for when it is told nothing else: the chat of the one provider served here.
    if (!resource.provider.empty())
      m["scopes_supported"] = json::array{json::string(resource.provider + ":chat")};
    Response res = http::JsonResponse(StatusCode::ok, m);
    res.set(bhttp::field::cache_control, "public, max-age=300");
    return res;
  }

  awaitable<Response> Authorize(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto params = http::QueryForm(req.target());
    if (!params) co_return ErrorPage("the query string is malformed");
    auto field = [&](const char* name) { return http::FormValue(*params, name); };
    std::string client_id = field("client_id"), redirect_uri = field("redirect_uri"), state = field("state");
    if (client_id.empty()) co_return ErrorPage("client_id is missing");
    auto client = co_await FindClient(ctx_, client_id, exchange.PeerAddress());
    if (!client && client.error().code == Errc::kRateLimited) co_return ThrottledPage(client.error());
    if (!client)
      co_return ErrorPage(http::ShownMessage(client.error()), client.error().code == Errc::kUnavailable
                                                                  ? StatusCode::service_unavailable
                                                                  : StatusCode::bad_request);
    if (redirect_uri.empty() || !RedirectRegistered(*client, redirect_uri))
      co_return ErrorPage(IsClientIdUrl(client_id)
                              ? "redirect_uri is not one of the redirect_uris of the app's metadata document"
                              : "redirect_uri is not one registered for this app");
    // From here on the redirect URI is verified: errors go back to the app, if the operator vouched
    // for it. Any other is shown them here: sent back, they would make the broker's own address a
    // redirector to any site that registers itself, or that an owner registers on /apps (RFC 9700
    // §4.11.2).
    bool vouched = VouchedFor(*client, "") && !IsClientIdUrl(client_id);
    auto refuse = [&](const char* error, std::string_view why) {
      return vouched ? RedirectError(ctx_, redirect_uri, state, error, why) : ErrorPage(why);
    };
    if (field("response_type") != "code") co_return refuse("unsupported_response_type", "only response_type=code");
    if (field("code_challenge_method") != "S256")
      co_return refuse("invalid_request", "PKCE with code_challenge_method=S256 is required");
    std::string challenge = field("code_challenge");
    if (challenge.size() != 43 || !Base64UrlDecode(challenge))
      co_return refuse("invalid_request", "code_challenge must be a base64url SHA-256");
    auto asked = ParseAccessRequest(field("authorization_details"), field("scope"), ctx_.upstream.Table().Names());
    if (!asked) co_return refuse("invalid_request", "ask with authorization_details or scope");
    Result<AccessRequest>& access = *asked;
    if (!access) co_return refuse("invalid_authorization_details", access.error().message);
    auto resources =
        CheckResources(http::FormValues(*params, "resource"), ctx_.resources, ctx_.public_url, access->scope.provider);
    if (!resources) co_return refuse("invalid_target", resources.error().message);

    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SeeOther("/login?next=" + Encode(req.target()));
    UnixSeconds now = ctx_.clock();
    if (auto refused = Admit(ctx_.throttles.authorizations_by_address, ctx_.throttles.authorizations_by_client,
                             "authorization requests", exchange, ClientThrottleKey(client->id)))
      co_return ThrottledPage(*refused);
    auto fresh = domain::MakeGrantRequest(client->name, client->home_url, access->reason, access->scope, "", now);
    fresh.grant.verified = VouchedFor(*client, signed_in->owner.id);
    fresh.grant.owner_id = signed_in->owner.id;  // the person the app sent here decides it, nobody else
    fresh.grant.client_id = client->id;
    store::PendingAuthorizationRecord pending{fresh.grant.id,
                                              client->id,
                                              redirect_uri,
                                              state,
                                              challenge,
                                              access->lifetime_seconds,
                                              now + kPendingAuthorizationSeconds,
                                              JoinWithSpaces(*resources)};
    // The request waits in the store, so the consent and token steps may reach any broker.
    auto insert = [fresh, pending, now](store::Store& s) -> Result<bool> {
      auto kept = s.Flows().PutPendingAuthorization(pending, now, kMaxPendingAuthorizations);
      if (!kept || !*kept) return kept;
      if (auto created = s.Grants().CreateGrantRequest(fresh.request, fresh.grant); !created) {
        s.Flows().TakePendingAuthorization(pending.grant_id, now);
        return created.error();
      }
      return true;
    };
    auto stored = co_await api::OnStore(ctx_, std::move(insert));
    if (!stored) co_return ErrorPage("the request could not be stored; try again");
    if (!*stored) co_return ThrottledPage(TableFull("authorization requests"));
    record::AuditEvent requested = api::GrantEvent(api::audit_kind::kGrantRequested, "app:" + client->id, fresh.grant,
                                                   json::object{{"clientId", client->id}, {"flow", "authorization_code"}});
    requested.owner_id = signed_in->owner.id;  // the person the app sent here
    ctx_.audit.Record(std::move(requested));
    co_return SeeOther("/consent/" + fresh.grant.id);
  }

  // Every answer to a request with a DPoP proof carries the nonce for the next one.
  awaitable<Response> Token(Request& req, const http::PathParams& params, http::Exchange& exchange) {
    Response res = co_await TokenAnswer(req, params, exchange);
    if (req.find("dpop") != req.end()) res.set("DPoP-Nonce", ctx_.dpop.Nonce());
    co_return res;
  }

  awaitable<Response> TokenAnswer(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto form = http::ParseForm(req.body());
    if (!form) co_return TokenError(StatusCode::bad_request, "invalid_request", "the body must be form-encoded");
    auto field = [&](const char* name) { return http::FormValue(*form, name); };
    auto client = co_await AuthenticateClient(req, *form, exchange.PeerAddress());
    if (!client) co_return ClientRefusal(client.error());
    Proved proved = co_await ProofKey(req, exchange, client->id, "/oauth/token");
    if (proved.refusal) co_return std::move(*proved.refusal);
    const std::string& jkt = proved.jkt;
    if (jkt.empty() && client->dpop_required)
      co_return TokenError(StatusCode::bad_request, "invalid_dpop_proof",
                           "this app must bind its tokens with DPoP: send a DPoP proof");
    auto named = CheckResources(http::FormValues(*form, "resource"), ctx_.resources, ctx_.public_url);
    if (!named) co_return TokenError(StatusCode::bad_request, "invalid_target", named.error().message);
    TokenAsk ask{std::move(*named), field("authorization_details"), field("scope")};
    std::string grant_type = field("grant_type");
    if (grant_type == "refresh_token") co_return co_await Refresh(*client, field("refresh_token"), jkt, ask);
    if (grant_type == kDeviceGrantType) co_return co_await DeviceToken(*client, field("device_code"), jkt, ask);
    if (grant_type == kExchangeGrantType) co_return co_await Exchange(*client, *form, jkt, ask);
    if (grant_type != "authorization_code")
      co_return TokenError(StatusCode::bad_request, "unsupported_grant_type",
                           "authorization_code, refresh_token, device_code or token-exchange");
    std::string code = field("code");
    if (code.empty()) co_return TokenError(StatusCode::bad_request, "invalid_request", "code is missing");
    UnixSeconds now = ctx_.clock();
    // The code is checked against its client, redirect and verifier before it is used: one
    // presented without them (a leaked code, which PKCE makes useless) neither uses it up nor,
    // as a replay would, ends the access it gave.
    std::string hash = crypto::Sha256Hex(code);
    auto read = [hash](store::Store& s) { return s.OAuth().GetAuthorizationCode(hash); };
    auto issued = co_await api::OnStore(ctx_, std::move(read));
    if (!issued && issued.error().code != Errc::kNotFound) co_return Unavailable();
    if (!issued) co_return TokenError(StatusCode::bad_request, "invalid_grant", "unknown code");
    if (issued->client_id != client->id)
      co_return TokenError(StatusCode::bad_request, "invalid_grant", "this code was issued to another client");
    if (field("redirect_uri") != issued->redirect_uri || !RedirectRegistered(*client, issued->redirect_uri))
      co_return TokenError(StatusCode::bad_request, "invalid_grant",
                           "redirect_uri differs from the authorization request's");
    std::string verifier = field("code_verifier");
    if (issued->code_challenge.empty() || !IsValidVerifier(verifier) ||
        !crypto::ConstantTimeEqual(Base64UrlEncode(crypto::Sha256(verifier)), issued->code_challenge))
      co_return TokenError(StatusCode::bad_request, "invalid_grant",
                           "the code_verifier does not match the code_challenge");
    if (issued->expires_at < now) {
      // Used up now if it was not yet. One already used has leaked, however late it comes back.
      auto redeemed = co_await RedeemCode(hash, now);
      if (redeemed && redeemed->replayed_grant_id) co_return co_await CodeReplayed(*redeemed->replayed_grant_id);
      co_return TokenError(StatusCode::bad_request, "invalid_grant", "this code has expired");
    }
    // What the request asks of the grant is checked before the code is used too: a request the
    // grant cannot answer (more than it holds, another resource) leaves the code for a corrected
    // retry, which would otherwise count as a replay and revoke the grant just approved.
    {
      auto grant = co_await api::LoadGrant(ctx_, issued->grant_id);
      if (!grant && grant.error().code != Errc::kNotFound) co_return Unavailable();  // the code is not used
      if (!grant || domain::UnusableReason(grant->record, now))
        co_return TokenError(StatusCode::bad_request, "invalid_grant", "the grant is no longer usable");
      std::vector<std::string> audiences;
      if (auto refused = CheckAsk(ask, *grant, issued->resources, audiences)) co_return std::move(*refused);
      if (auto refused = ThrottleTokens(issued->grant_id)) co_return std::move(*refused);
    }
    auto redeemed = co_await RedeemCode(hash, now);
    if (!redeemed && redeemed.error().code != Errc::kNotFound) co_return Unavailable();  // one step: nothing used
    if (!redeemed) co_return TokenError(StatusCode::bad_request, "invalid_grant", "unknown code");
    if (redeemed->replayed_grant_id) co_return co_await CodeReplayed(*redeemed->replayed_grant_id);
    const store::AuthorizationCodeRecord& granted = *redeemed->code;
    co_return co_await IssueTokens(*client, granted.grant_id, RandomUuid(), jkt, ask, granted.resources);
  }

  // Marks the code used, in one atomic step; or tells the grant of one used before.
  awaitable<Result<store::OAuthStore::Redeemed>> RedeemCode(const std::string& hash, UnixSeconds now) {
    auto redeem = [hash, now](store::Store& s) { return s.OAuth().RedeemAuthorizationCode(hash, now); };
    co_return co_await api::OnStore(ctx_, std::move(redeem));
  }

  // A code presented again, with its verifier, has leaked: the grant it gave ends (RFC 6749 §4.1.2).
  awaitable<Response> CodeReplayed(const std::string& grant_id) {
    co_await RevokeGrant(grant_id, "authorization code replayed");
    co_return TokenError(StatusCode::bad_request, "invalid_grant",
                         "this code was already used; the access it gave is revoked");
  }

  // RFC 8628 §3.1-3.2: a device code for the device to poll with, and a short user code for the
  // person to type on /device.
  awaitable<Response> DeviceAuthorization(Request& req, const http::PathParams&, http::Exchange& exchange) {
    UnixSeconds now = ctx_.clock();
    constexpr std::string_view kWhat = "device authorization requests";
    if (auto refused =
            api::ThrottleAddress(ctx_.throttles.device_authorizations_by_address, exchange.PeerAddress(), kWhat))
      co_return TokenRefusal(*refused);
    auto form = http::ParseForm(req.body());
    if (!form) co_return TokenError(StatusCode::bad_request, "invalid_request", "the body must be form-encoded");
    auto client = co_await AuthenticateClient(req, *form, exchange.PeerAddress());
    if (!client) co_return ClientRefusal(client.error());
    if (!client->device_grant)
      co_return TokenError(StatusCode::bad_request, "unauthorized_client", NoDeviceGrant(*client));
    if (auto refused =
            api::ThrottleClient(ctx_.throttles.device_authorizations_by_client, ClientThrottleKey(client->id), kWhat))
      co_return TokenRefusal(*refused);
    auto asked = ParseAccessRequest(http::FormValue(*form, "authorization_details"), http::FormValue(*form, "scope"),
                                    ctx_.upstream.Table().Names());
    if (!asked)
      co_return TokenError(StatusCode::bad_request, "invalid_request", "ask with authorization_details or scope");
    Result<AccessRequest>& access = *asked;
    if (!access) co_return TokenError(StatusCode::bad_request, "invalid_authorization_details", access.error().message);
    auto resources = CheckResources(http::FormValues(*form, "resource"), ctx_.resources, ctx_.public_url,
                                    access->scope.provider);
    if (!resources) co_return TokenError(StatusCode::bad_request, "invalid_target", resources.error().message);
    std::string device_code = RandomToken(32);
    std::string user_code = RandomCode(kUserCodeAlphabet, 8);
    store::DeviceAuthorizationRecord device;
    device.device_code_hash = crypto::Sha256Hex(device_code);
    device.user_code_hash = crypto::Sha256Hex(user_code);
    device.client_id = client->id;
    device.scope_json = domain::ScopeToJsonText(access->scope);
    device.lifetime_seconds = access->lifetime_seconds;
    device.reason = access->reason;
    device.expires_at = now + kDeviceAuthorizationSeconds;
    device.resources = JoinWithSpaces(*resources);
    auto insert = [device, now](store::Store& s) {
      return s.Flows().PutDeviceAuthorization(device, now, kMaxDeviceAuthorizations);
    };
    auto kept = co_await api::OnStore(ctx_, std::move(insert));
    if (!kept) co_return Unavailable();
    if (!*kept) co_return TokenRefusal(TableFull("device authorization requests"));
    std::string shown = user_code.substr(0, 4) + "-" + user_code.substr(4);
    Response res = http::JsonResponse(
        StatusCode::ok, json::object{{"device_code", device_code},
                                     {"user_code", shown},
                                     {"verification_uri", ctx_.public_url + "/device"},
                                     {"verification_uri_complete", ctx_.public_url + "/device?user_code=" + shown},
                                     {"expires_in", kDeviceAuthorizationSeconds},
                                     {"interval", device.interval}});
    res.set(bhttp::field::cache_control, "no-store");
    co_return res;
  }

  // RFC 7591, when the owner has turned it on: an app registers itself and gets its client_id (and
  // a secret for a confidential one, shown only here).
  awaitable<Response> Register(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto refuse = [](std::string_view error, std::string_view description) {
      return TokenError(StatusCode::bad_request, error, description);  // RFC 7591 §3.2.2 has the same shape
    };
    if (!ctx_.dynamic_registration)
      co_return TokenError(StatusCode::forbidden, "access_denied", "the owner has not enabled dynamic registration");
    if (auto refused =
            api::ThrottleAddress(ctx_.throttles.registrations_by_address, exchange.PeerAddress(), "registrations"))
      co_return TokenRefusal(*refused);
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    if (ec || !body.is_object()) co_return refuse("invalid_client_metadata", "the body must be a JSON object");
    const json::object& o = body.get_object();
    auto text = [&](const char* name) -> std::optional<std::string> {
      const json::value* v = o.if_contains(name);
      if (!v || v->is_null()) return std::string();
      if (!v->is_string()) return std::nullopt;
      return std::string(v->get_string());
    };
    ClientRequest request;
    request.self_registered = true;
    auto name = text("client_name"), home = text("client_uri"), logo = text("logo_uri");
    auto method = text("token_endpoint_auth_method");
    if (!name || !home || !logo || !method)
      co_return refuse("invalid_client_metadata", "metadata values must be strings");
    request.name = *name;
    request.home_url = *home;
    request.logo_url = *logo;
    if (method->empty() || *method == "none")
      request.confidential = false;
    else if (*method == "client_secret_basic" || *method == "client_secret_post")
      request.confidential = true;
    else
      co_return refuse("invalid_client_metadata",
                       "token_endpoint_auth_method must be none, client_secret_basic or "
                       "client_secret_post");
    auto device = AsksForDeviceGrant(o);
    if (!device) co_return refuse("invalid_client_metadata", device.error().message);
    request.device_grant = *device;
    if (const json::value* dpop = o.if_contains("dpop_bound_access_tokens"); dpop && !dpop->is_null()) {
      if (!dpop->is_bool()) co_return refuse("invalid_client_metadata", "dpop_bound_access_tokens must be a boolean");
      request.dpop_required = dpop->get_bool();
    }
    const json::value* uris = o.if_contains("redirect_uris");
    if (!uris || !uris->is_array()) co_return refuse("invalid_redirect_uri", "redirect_uris must be an array");
    for (const auto& uri : uris->get_array()) {
      if (!uri.is_string()) co_return refuse("invalid_redirect_uri", "redirect_uris must hold strings");
      request.redirect_uris.emplace_back(uri.get_string());
      if (auto ok = CheckRedirectUri(request.redirect_uris.back()); !ok)
        co_return refuse("invalid_redirect_uri", ok.error().message);
    }
    auto made = MakeClient(request, ctx_.clock());
    if (!made) co_return refuse("invalid_client_metadata", made.error().message);
    // Counted and inserted in one step on the store thread, so concurrent registrations cannot overshoot.
    auto insert = [record = made->record](store::Store& s) -> Result<bool> {
      auto registered = s.OAuth().CountSelfRegisteredClients();
      if (!registered) return registered.error();
      if (*registered >= kMaxSelfRegisteredClients) return false;
      if (auto stored = s.OAuth().CreateClient(record); !stored) return stored.error();
      return true;
    };
    auto created = co_await api::OnStore(ctx_, std::move(insert));
    if (!created) co_return refuse("invalid_client_metadata", "the client could not be stored");
    if (!*created) {
      Error full = MakeError(Errc::kUnavailable, std::to_string(kMaxSelfRegisteredClients) +
                                                     " apps have registered themselves; the owner must remove some "
                                                     "before more can");
      full.retry_after_seconds = 3600;
      co_return TokenRefusal(full);
    }
    const store::ClientRecord& c = made->record;
    ctx_.audit.Record(record::AuditEvent{
        std::string(api::audit_kind::kClientAdded), "app:" + c.id, "", "",
        json::serialize(json::object{
            {"clientId", c.id}, {"name", c.name}, {"registration", "dynamic"}, {"deviceGrant", c.device_grant}})});
    json::object answer{{"client_id", c.id},
                        {"client_id_issued_at", c.created_at},
                        {"client_name", c.name},
                        {"redirect_uris", json::array(c.redirect_uris.begin(), c.redirect_uris.end())},
                        {"token_endpoint_auth_method", c.confidential ? *method : "none"},
                        {"grant_types", GrantTypesOf(c)},
                        {"response_types", json::array{"code"}},
                        {"dpop_bound_access_tokens", c.dpop_required}};
    if (!c.home_url.empty()) answer["client_uri"] = c.home_url;
    if (!c.logo_url.empty()) answer["logo_uri"] = c.logo_url;
    if (c.confidential) {
      answer["client_secret"] = made->secret;
      answer["client_secret_expires_at"] = 0;
    }
    Response res = http::JsonResponse(StatusCode::created, answer);
    res.set(bhttp::field::cache_control, "no-store");
    co_return res;
  }

  // Every answer to a request with a DPoP proof carries the nonce for the next one.
  awaitable<Response> Revoke(Request& req, const http::PathParams& params, http::Exchange& exchange) {
    Response res = co_await RevokeAnswer(req, params, exchange);
    if (req.find("dpop") != req.end()) res.set("DPoP-Nonce", ctx_.dpop.Nonce());
    co_return res;
  }

  // RFC 7009: the client's own tokens only; unknown or foreign ones are answered 200 and left alone.
  // Revoking a refresh token, or an access token, ends the grant's access (tokens are not listed).
  // A public client names itself by its id alone, so a token bound to a DPoP key is revoked only
  // with a proof of that key: a thief holding the token without the key cannot end the access it
  // gives, as it cannot use it.
  awaitable<Response> RevokeAnswer(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto form = http::ParseForm(req.body());
    if (!form) co_return TokenError(StatusCode::bad_request, "invalid_request", "the body must be form-encoded");
    auto client = co_await AuthenticateClient(req, *form, exchange.PeerAddress());
    if (!client) co_return ClientRefusal(client.error());
    std::string token = http::FormValue(*form, "token");
    if (token.empty()) co_return TokenError(StatusCode::bad_request, "invalid_request", "token is missing");
    auto read = [hash = crypto::Sha256Hex(token)](store::Store& s) { return s.OAuth().GetRefreshToken(hash); };
    auto refresh = co_await api::OnStore(ctx_, std::move(read));
    if (!refresh && refresh.error().code != Errc::kNotFound)  // it may be a token of this client's
      co_return Unavailable();
    bool own_refresh = refresh && refresh->client_id == client->id;
    std::shared_ptr<const domain::TokenClaims> claims;
    if (!own_refresh)
      if (auto verified = ctx_.tokens.Verify(token); verified && (*verified)->client_id == client->id)
        claims = *verified;
    if (own_refresh) {
      if (auto refused = co_await ProveBoundKey(req, *client, refresh->jkt, exchange)) co_return std::move(*refused);
      if (!co_await EndFamily(*refresh, "revoked by its client")) co_return Unavailable();
    } else if (claims) {
      if (auto refused = co_await ProveBoundKey(req, *client, claims->jkt, exchange)) co_return std::move(*refused);
      if (!co_await RevokeGrant(claims->grant_id, "access token revoked by its client")) co_return Unavailable();
    }
    Response res(StatusCode::ok, 11);
    res.set(bhttp::field::cache_control, "no-store");
    res.prepare_payload();
    co_return res;
  }

  // RFC 7662, for resource servers: the admin token, or a confidential client for its own tokens.
  // Anything inactive or not the caller's is exactly {"active": false}.
  awaitable<Response> Introspect(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto form = http::ParseForm(req.body());
    if (!form) co_return TokenError(StatusCode::bad_request, "invalid_request", "the body must be form-encoded");
    std::optional<std::string> caller_client;
    bool admin = co_await AdminCaller(req, exchange.PeerAddress());
    if (!admin) {
      auto client = co_await AuthenticateClient(req, *form, exchange.PeerAddress());
      if (!client || !client->confidential)
        co_return TokenError(StatusCode::unauthorized, "invalid_client", "introspection needs a confidential client");
      caller_client = client->id;
    }
    json::object inactive{{"active", false}};
    auto verified = ctx_.tokens.Verify(http::FormValue(*form, "token"));
    if (!verified || (caller_client && (*verified)->client_id != *caller_client)) co_return Introspection(inactive);
    const domain::TokenClaims& claims = **verified;
    auto grant = co_await api::LoadGrant(ctx_, claims.grant_id);
    if (!grant || domain::UnusableReason(grant->record, ctx_.clock())) co_return Introspection(inactive);
    json::object active{{"active", true},          {"token_type", claims.jkt.empty() ? "Bearer" : "DPoP"},
                        {"iss", ctx_.issuer},      {"sub", claims.grant_id},
                        {"gid", claims.grant_id},  {"exp", claims.expires_at},
                        {"iat", claims.issued_at}, {"jti", claims.jti}};
    if (!claims.client_id.empty()) active["client_id"] = claims.client_id;
    if (!claims.jkt.empty()) active["cnf"] = json::object{{"jkt", claims.jkt}};
    if (claims.audiences.size() == 1) active["aud"] = claims.audiences.front();
    if (claims.audiences.size() > 1) active["aud"] = json::array(claims.audiences.begin(), claims.audiences.end());
    active["authorization_details"] = GrantedDetails(grant->scope, Lifetime(grant->record));
    co_return Introspection(active);
  }

 private:
  // Counts one request against the caller's address and then its client; the refusal if either
  // throttle does not admit it.
  static std::optional<Error> Admit(domain::KeyedThrottle& by_address, domain::KeyedThrottle& by_client,
                                    std::string_view what, const http::Exchange& exchange, const std::string& client_id) {
    if (auto refused = api::ThrottleAddress(by_address, exchange.PeerAddress(), what)) return refused;
    return api::ThrottleClient(by_client, client_id, what);
  }

  static Response ThrottledPage(const Error& error) {
    Response res = ErrorPage(error.message, error.code == Errc::kUnavailable ? StatusCode::service_unavailable
                                                                             : StatusCode::too_many_requests);
    http::SetRetryAfter(res, error);
    return res;
  }

  static int64_t Lifetime(const store::GrantRecord& g) {
    return g.expires_at.value_or(0) - g.approved_at.value_or(g.expires_at.value_or(0));
  }

  static Response Introspection(const json::object& body) {
    Response res = http::JsonResponse(StatusCode::ok, body);
    res.set(bhttp::field::cache_control, "no-store");
    return res;
  }

  awaitable<bool> AdminCaller(const Request& req, std::string_view peer) {
    auto auth = req.find(bhttp::field::authorization);
    if (auth == req.end() || !auth->value().starts_with("Bearer ")) co_return false;
    auto caller = co_await api::RequireOwner(ctx_, req, peer);
    co_return caller && caller->IsAdmin();
  }

  // The refusal of a revocation by a public client that does not prove the DPoP key its token is
  // bound to (`jkt`); none when it does, or when the token is bound to none or the client holds a
  // secret.
  awaitable<std::optional<Response>> ProveBoundKey(const Request& req, const store::ClientRecord& client,
                                                   const std::string& jkt, const http::Exchange& exchange) {
    if (jkt.empty() || client.confidential) co_return std::nullopt;
    Proved proved = co_await ProofKey(req, exchange, client.id, "/oauth/revoke");
    if (proved.refusal) co_return std::move(proved.refusal);
    if (!crypto::ConstantTimeEqual(proved.jkt, jkt))
      co_return TokenError(StatusCode::bad_request, "invalid_dpop_proof",
                           "this token is bound to a DPoP key: revoke it with a proof signed by that key");
    co_return std::nullopt;
  }

  // The thumbprint of the key a request's DPoP proof is signed with (empty without a proof), or the
  // refusal to answer with.
  struct Proved {
    std::string jkt;
    std::optional<Response> refusal;
  };
  // The proof for POST `path`, counted against its address and `client_id` first (each proof's jti
  // is remembered for its window). Proofs here must carry the broker's nonce (RFC 9449 §8): a proof
  // made in advance is useless.
  awaitable<Proved> ProofKey(const Request& req, const http::Exchange& exchange, const std::string& client_id,
                             std::string_view path) {
    std::vector<std::string_view> proofs = http::DpopProofs(req);
    if (proofs.empty()) co_return Proved{};
    if (auto refused = Admit(ctx_.throttles.token_proofs_by_address, ctx_.throttles.token_proofs_by_client,
                             "DPoP proofs", exchange, ClientThrottleKey(client_id)))
      co_return Proved{"", TokenRefusal(*refused)};
    std::string url = ctx_.public_url + std::string(path);  // the request views it
    domain::DpopRequest proof{proofs, "POST", url, std::nullopt, true};
    auto jkt = co_await api::CheckDpopProof(ctx_, proof);
    if (!jkt && (jkt.error().code == Errc::kUnavailable || jkt.error().code == Errc::kRateLimited))
      co_return Proved{"", TokenRefusal(jkt.error())};
    if (!jkt)
      co_return Proved{"", TokenError(StatusCode::bad_request,
                                      domain::IsNonceRefusal(jkt.error()) ? "use_dpop_nonce" : "invalid_dpop_proof",
                                      jkt.error().message)};
    co_return Proved{std::move(*jkt), std::nullopt};
  }

  // A new access token and a new refresh token (of `family`) for the grant: the same grant, so a
  // refresh can never widen it. With a DPoP key (`jkt`) the access token is bound to it, and so is
  // a public client's refresh token (a confidential client's is bound by its secret).
  // The token is bound to the resources `ask` names, within `granted` (those the authorization
  // named, space-separated; the family keeps them), else to `granted` (see CheckAsk).
  // `refreshed_to`: the refresh token already stored in place of the one presented (Refresh); empty:
  // one is made and stored here.
  awaitable<Response> IssueTokens(const store::ClientRecord& client, const std::string& grant_id, std::string family,
                                  const std::string& jkt, const TokenAsk& ask, const std::string& granted,
                                  std::string refreshed_to = {}) {
    UnixSeconds now = ctx_.clock();
    auto grant = co_await api::LoadGrant(ctx_, grant_id);
    if (!grant || domain::UnusableReason(grant->record, now))
      co_return TokenError(StatusCode::bad_request, "invalid_grant", "the grant is no longer usable");
    std::vector<std::string> audiences;
    if (auto refused = CheckAsk(ask, *grant, granted, audiences)) co_return std::move(*refused);
    const bool refreshed = !refreshed_to.empty();
    std::string refresh = refreshed ? std::move(refreshed_to) : RandomToken(32);
    if (!refreshed) {
      store::RefreshTokenRecord record{crypto::Sha256Hex(refresh),
                                       std::move(family),
                                       grant_id,
                                       client.id,
                                       now,
                                       client.confidential ? "" : jkt,
                                       granted};
      auto insert = [record](store::Store& s) { return s.OAuth().CreateRefreshToken(record); };
      if (auto stored = co_await api::OnStore(ctx_, std::move(insert)); !stored) {
        // The code or device code presented is used up by now: told to try again, the app would
        // present it again, and a credential presented twice ends the grant's access (a replay).
        // So the answer is final: the app starts its sign-in again, and the grant stays.
        spdlog::error("tokens for grant {} not issued: the new refresh token was not stored: {}", grant_id,
                      stored.error().message);
        co_return TokenError(StatusCode::bad_request, "invalid_grant",
                             "the broker could not store new tokens, and what was presented is used up: sign in again");
      }
    }
    auto token = ctx_.tokens.Issue(grant->record.id, grant->record.expires_at, client.id, jkt, audiences);
    ctx_.audit.Record(api::GrantEvent(refreshed ? api::audit_kind::kTokenRefreshed : api::audit_kind::kTokenIssued,
                                      "app:" + client.id, grant->record,
                                      json::object{{"clientId", client.id}, {"dpopBound", !jkt.empty()}}));
    Response res = http::JsonResponse(
        StatusCode::ok, json::object{{"access_token", token.token},
                                     {"token_type", jkt.empty() ? "Bearer" : "DPoP"},
                                     {"expires_in", token.expires_at - token.issued_at},
                                     {"refresh_token", refresh},
                                     {"authorization_details", GrantedDetails(grant->scope, Lifetime(grant->record))}});
    res.set(bhttp::field::cache_control, "no-store");
    res.set(bhttp::field::pragma, "no-cache");
    co_return res;
  }

  // Sets `audiences` to the resources the token answering `ask` is bound to: those it names, within
  // `granted` (what the authorization named, space-separated) when that names any, else `granted`;
  // each must serve the grant's provider. A request asking for more than the grant holds (scope or
  // authorization_details) or for other resources is refused, never narrowed in silence.
  std::optional<Response> CheckAsk(const TokenAsk& ask, const domain::Grant& grant, const std::string& granted,
                                   std::vector<std::string>& audiences) const {
    if (!ask.details.empty() || !ask.scope.empty()) {
      std::string_view error = ask.details.empty() ? "invalid_scope" : "invalid_authorization_details";
      auto asked = ParseAccessRequest(ask.details, ask.scope, ctx_.upstream.Table().Names());
      Result<AccessRequest>& access = *asked;
      if (!access) return TokenError(StatusCode::bad_request, error, access.error().message);
      auto beyond = ask.details.empty() ? ScopeBeyondGrant(*access, grant.scope)
                                        : BeyondGrant(*access, grant.scope, Lifetime(grant.record));
      if (beyond)
        return TokenError(StatusCode::bad_request, error, "this asks for more than the grant holds: " + *beyond);
    }
    auto narrowed = NarrowResources(ask.resources, SplitOnSpaces(granted));
    if (!narrowed) return TokenError(StatusCode::bad_request, "invalid_target", narrowed.error().message);
    auto serving = CheckResources(*narrowed, ctx_.resources, ctx_.public_url, grant.scope.provider);
    if (!serving) return TokenError(StatusCode::bad_request, "invalid_target", serving.error().message);
    audiences = std::move(*serving);
    return std::nullopt;
  }

  // RFC 8693: the app hands one of its own agents a child of its grant, strictly inside it
  // (oauth/delegation.hpp), and gets the child's access token, whose `act` names the chain. No
  // refresh token: the app exchanges again.
  awaitable<Response> Exchange(const store::ClientRecord& client, const http::Form& form, const std::string& jkt,
                               const TokenAsk& ask) {
    domain::TokenClaims subject;
    if (auto refused = CheckSubject(client, form, jkt, subject)) co_return std::move(*refused);
    // Each child is a token of its parent's: a stolen bearer token exchanged in a loop would
    // otherwise use up the tree's grants ever made (kMaxDescendants) at the store's pace.
    if (auto refused = ThrottleTokens(subject.grant_id)) co_return std::move(*refused);
    std::string_view error = ask.details.empty() ? "invalid_scope" : "invalid_authorization_details";
    auto asked = ParseAccessRequest(ask.details, ask.scope, ctx_.upstream.Table().Names());
    if (!asked) co_return BadRequest("invalid_request", "ask for the child's access with authorization_details or scope");
    Result<AccessRequest>& access = *asked;
    if (!access) co_return BadRequest(error, access.error().message);
    UnixSeconds now = ctx_.clock();
    // The child ends with the token it was exchanged for: a bearer token taken from the app would
    // otherwise buy its holder a fresh one, and chained exchanges one after another.
    if (subject.expires_at <= now)
      co_return BadRequest("invalid_grant", "the subject_token has expired: refresh it, then exchange the new one");
    auto parent = co_await api::LoadGrant(ctx_, subject.grant_id);
    if (!parent || domain::UnusableReason(parent->record, now))
      co_return BadRequest("invalid_grant", "the subject_token's grant is no longer usable");
    if (domain::EffectiveStatus(parent->record, now) == store::GrantStatus::kExhausted)
      co_return BadRequest("invalid_grant", "the subject_token's grant has spent its budget or used its requests: "
                                            "it has nothing left to hand on");
    // A parent that sets no calls at once runs with the broker's default: its children may not ask
    // for more than that.
    if (!parent->scope.max_concurrent) parent->scope.max_concurrent = ctx_.meter.DefaultMaxConcurrent();
    AccessRequest paced = WithParentPace(std::move(*access), *parent);
    if (auto beyond = BeyondParent(paced, *parent, now)) co_return BadRequest(error, *beyond);
    if (paced.lifetime_named && paced.lifetime_seconds > subject.expires_at - now)
      co_return BadRequest(error, "lifetime_seconds " + std::to_string(paced.lifetime_seconds) +
                                      " is beyond what the subject_token has left (" +
                                      std::to_string(subject.expires_at - now) +
                                      " s): refresh it, then exchange the new one");
    // The child's token is bound to resources within those its parent's token is bound to.
    bool bound = subject.audiences.size() != 1 || subject.audiences.front() != ctx_.tokens.DefaultAudience();
    auto narrowed = NarrowResources(ask.resources, bound ? subject.audiences : std::vector<std::string>{});
    if (!narrowed) co_return BadRequest("invalid_target", narrowed.error().message);
    auto audiences = CheckResources(*narrowed, ctx_.resources, ctx_.public_url, paced.scope.provider);
    if (!audiences) co_return BadRequest("invalid_target", audiences.error().message);
    domain::NewRequest child = MakeChildGrant(paced, *parent, now, subject.expires_at);
    auto insert = [child, now](store::Store& s) {
      return s.Grants().CreateChildGrant(child.request, child.grant,
                                         {domain::kMaxLiveDescendants, domain::kMaxDescendants}, now);
    };
    if (auto created = co_await api::OnStore(ctx_, std::move(insert)); !created) {
      Errc code = created.error().code;
      if (code == Errc::kUnauthorized) co_return BadRequest("invalid_grant", created.error().message);
      if (code == Errc::kLimitReached) co_return BadRequest("invalid_request", created.error().message);
      co_return Unavailable();
    }
    ctx_.grants.Put(domain::Grant{child.grant, paced.scope});
    ctx_.audit.Record(api::GrantEvent(api::audit_kind::kGrantDelegated, "app:" + client.id, child.grant,
                                      json::object{{"clientId", client.id}, {"parentGrantId", parent->record.id}}));
    auto token = ctx_.tokens.Issue(child.grant.id, child.grant.expires_at, client.id, jkt, *audiences,
                                   child.grant.ancestors);
    Response res = http::JsonResponse(
        StatusCode::ok,
        json::object{{"access_token", token.token},
                     {"issued_token_type", kAccessTokenType},
                     {"token_type", jkt.empty() ? "Bearer" : "DPoP"},
                     {"expires_in", token.expires_at - token.issued_at},
                     {"authorization_details", GrantedDetails(paced.scope, Lifetime(child.grant))}});
    res.set(bhttp::field::cache_control, "no-store");
    res.set(bhttp::field::pragma, "no-cache");
    co_return res;
  }

  // Sets `subject` to the claims of a token exchange's subject token: an access token of this
  // broker, issued to `client`, and when it is DPoP-bound, presented with a proof of its key (`jkt`,
  // which the child's token is then bound to too). The refusal otherwise.
  std::optional<Response> CheckSubject(const store::ClientRecord& client, const http::Form& form,
                                       const std::string& jkt, domain::TokenClaims& subject) const {
    auto field = [&](const char* name) { return http::FormValue(form, name); };
    if (field("subject_token_type") != kAccessTokenType)
      return BadRequest("invalid_request", "subject_token_type must be " + std::string(kAccessTokenType));
    if (std::string requested = field("requested_token_type"); !requested.empty() && requested != kAccessTokenType)
      return BadRequest("invalid_request",
                        "only access tokens are issued: requested_token_type must be " + std::string(kAccessTokenType));
    if (!field("actor_token").empty())
      return BadRequest("invalid_request", "actor_token is not supported: the subject token names the actor");
    if (!field("audience").empty())
      return BadRequest("invalid_target", "audience is not supported: name the resource (RFC 8707) instead");
    std::string token = field("subject_token");
    if (token.empty()) return BadRequest("invalid_request", "subject_token is missing");
    auto claims = ctx_.tokens.Verify(token);
    if (!claims) return BadRequest("invalid_grant", "the subject_token is not valid: " + claims.error().message);
    if ((*claims)->client_id != client.id)
      return BadRequest("invalid_grant", "the subject_token was not issued to this app");
    if (!(*claims)->jkt.empty() && (*claims)->jkt != jkt)
      return BadRequest("invalid_dpop_proof", "the subject_token is bound to a DPoP key: send a proof signed with it");
    subject = **claims;
    return std::nullopt;
  }

  // RFC 8628 §3.4-3.5.
  awaitable<Response> DeviceToken(const store::ClientRecord& client, const std::string& device_code,
                                  const std::string& jkt, const TokenAsk& ask) {
    if (device_code.empty()) co_return TokenError(StatusCode::bad_request, "invalid_request", "device_code is missing");
    if (!client.device_grant)  // allowed when the flow started, not since
      co_return TokenError(StatusCode::bad_request, "unauthorized_client", NoDeviceGrant(client));
    auto poll = [hash = crypto::Sha256Hex(device_code), client_id = client.id, now = ctx_.clock()](store::Store& s) {
      return s.Flows().PollDevice(hash, client_id, now);
    };
    auto polled = co_await api::OnStore(ctx_, std::move(poll));
    if (!polled) co_return Unavailable();
    switch (polled->outcome) {
      case store::DevicePoll::kApproved:
        co_return co_await IssueTokens(client, polled->grant_id, RandomUuid(), jkt, ask, polled->resources);
      case store::DevicePoll::kPending:
        co_return TokenError(StatusCode::bad_request, "authorization_pending", "the person has not decided yet");
      case store::DevicePoll::kSlowDown:
        co_return TokenError(StatusCode::bad_request, "slow_down",
                             "polled too soon; wait " + std::to_string(polled->interval) + " seconds between polls");
      case store::DevicePoll::kDenied:
        co_return TokenError(StatusCode::bad_request, "access_denied", "the person denied the request");
      case store::DevicePoll::kExpired:
        co_return TokenError(StatusCode::bad_request, "expired_token", "the device code has expired; ask again");
      case store::DevicePoll::kUsed:
      case store::DevicePoll::kUnknown:
        break;
    }
    co_return TokenError(StatusCode::bad_request, "invalid_grant", "unknown or already used device_code");
  }

  // Rotation: each refresh token works once. One presented again was stolen or copied: its whole
  // family and the grant's access end.
  // A refresh token bound to a DPoP key works only with a proof signed by that key. That is checked
  // before the token is used, so a thief without the key cannot burn it for its owner.
  // A refresh asking beyond its grant is refused before the token is used, so it keeps working;
  // so is one presented by another client than its own, which cannot use it (nor end its access).
  awaitable<Response> Refresh(const store::ClientRecord& client, std::string token, const std::string& jkt,
                              const TokenAsk& ask) {
    if (token.empty()) co_return TokenError(StatusCode::bad_request, "invalid_request", "refresh_token is missing");
    auto read = [hash = crypto::Sha256Hex(token)](store::Store& s) { return s.OAuth().GetRefreshToken(hash); };
    auto stored = co_await api::OnStore(ctx_, std::move(read));
    // Unread, the token's client and key could not be checked: nothing is used, the app tries again.
    if (!stored && stored.error().code != Errc::kNotFound) co_return Unavailable();
    if (stored && stored->client_id != client.id)
      co_return TokenError(StatusCode::bad_request, "invalid_grant", "this refresh token belongs to another client");
    if (stored && !stored->jkt.empty() && stored->jkt != jkt)
      co_return TokenError(StatusCode::bad_request, "invalid_dpop_proof",
                           jkt.empty() ? "this refresh token is bound to a DPoP key: send a proof signed with it"
                                       : "the DPoP proof is signed by another key than this refresh token's");
    if (stored && ask.AsksAnything()) {
      // Checked before the token is used: one refused after would leave the app a used token to
      // present again with a corrected request, which a replay does.
      auto grant = co_await api::LoadGrant(ctx_, stored->grant_id);
      if (!grant && grant.error().code != Errc::kNotFound) co_return Unavailable();
      std::vector<std::string> audiences;
      if (grant)
        if (auto refused = CheckAsk(ask, *grant, stored->resources, audiences)) co_return std::move(*refused);
    }
    // Before the token is used: a refused refresh leaves it working.
    if (stored)
      if (auto refused = ThrottleTokens(stored->grant_id)) co_return std::move(*refused);
    UnixSeconds now = ctx_.clock();
    std::string successor = RandomToken(32);
    auto use = [hash = crypto::Sha256Hex(token), now,
                next =
                    store::OAuthStore::RefreshSuccessor{crypto::Sha256Hex(successor), client.confidential ? "" : jkt}](
                   store::Store& s) { return s.OAuth().UseRefreshToken(hash, now, next); };
    auto used = co_await api::OnStore(ctx_, std::move(use));
    if (!used && used.error().code != Errc::kNotFound) co_return Unavailable();  // rolled back: not used
    if (!used) co_return TokenError(StatusCode::bad_request, "invalid_grant", "unknown refresh token");
    if (used->reused) {
      auto grant = co_await api::LoadGrant(ctx_, used->reused->grant_id);
      if (grant)
        ctx_.audit.Record(api::GrantEvent(api::audit_kind::kRefreshReused, "app:" + client.id, grant->record,
                                          json::object{{"clientId", client.id}, {"familyId", used->reused->family_id}}));
      co_await EndFamily(*used->reused, "refresh token reused");
      co_return TokenError(StatusCode::bad_request, "invalid_grant",
                           "this refresh token was already used; the access it gave is revoked");
    }
    if (used->fresh->client_id != client.id) {
      co_await EndFamily(*used->fresh, "refresh token presented by another client");
      co_return TokenError(StatusCode::bad_request, "invalid_grant", "this refresh token belongs to another client");
    }
    // A refusal from here on (the grant no longer usable) leaves the successor stored unheld: it is
    // of a grant that gives nothing, and is pruned with it.
    co_return co_await IssueTokens(client, used->fresh->grant_id, used->fresh->family_id, jkt, ask,
                                   used->fresh->resources, std::move(successor));
  }

  // The refusal of one more token for `grant_id` this minute (api::Throttles::kTokensPerGrant).
  std::optional<Response> ThrottleTokens(const std::string& grant_id) {
    auto refused = api::ThrottleGrant(ctx_.throttles.tokens_by_grant, grant_id, "tokens");
    if (!refused) return std::nullopt;
    return TokenRefusal(*refused);
  }

  // Whether the family and the grant's access both ended.
  awaitable<bool> EndFamily(const store::RefreshTokenRecord& token, std::string_view why) {
    auto revoke = [family = token.family_id, now = ctx_.clock()](store::Store& s) {
      return s.OAuth().RevokeRefreshFamily(family, now);
    };
    bool family_ended = static_cast<bool>(co_await api::OnStore(ctx_, std::move(revoke)));
    bool grant_ended = co_await RevokeGrant(token.grant_id, why);
    bool ended = family_ended && grant_ended;
    co_return ended;
  }

  // client_secret_basic, client_secret_post, or a public client naming itself. `peer` is the
  // caller's address, which a client_id URL's metadata fetch counts against.
  awaitable<Result<store::ClientRecord>> AuthenticateClient(const Request& req, const http::Form& form,
                                                            std::string_view peer) {
    std::string id = http::FormValue(form, "client_id"), secret = http::FormValue(form, "client_secret");
    auto auth = req.find(bhttp::field::authorization);
    if (auth != req.end()) {
      std::string_view value = auth->value();
      if (!value.starts_with("Basic "))
        co_return MakeError(Errc::kUnauthorized, "use HTTP Basic client authentication");
      std::string b64(value.substr(6));
      for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
      while (!b64.empty() && b64.back() == '=') b64.pop_back();
      auto decoded = Base64UrlDecode(b64);
      size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) co_return MakeError(Errc::kUnauthorized, "malformed Basic credentials");
      auto plain_id = http::ParseForm("x=" + decoded->substr(0, colon));
      auto plain_secret = http::ParseForm("x=" + decoded->substr(colon + 1));
      id = plain_id ? http::FormValue(*plain_id, "x") : "";
      secret = plain_secret ? http::FormValue(*plain_secret, "x") : "";
    }
    if (id.empty()) co_return MakeError(Errc::kUnauthorized, "client_id is missing");
    if (IsClientIdUrl(id) && !secret.empty())
      co_return MakeError(Errc::kUnauthorized, "an app described by a metadata document is a public client: it has "
                                               "no client_secret");
    auto client = co_await FindClient(ctx_, id, peer);
    if (!client && (client.error().code == Errc::kUnavailable || client.error().code == Errc::kRateLimited))
      co_return client.error();
    if (!client)
      co_return MakeError(Errc::kUnauthorized, client.error().code == Errc::kNotFound
                                                   ? "unknown client"
                                                   : http::ShownMessage(client.error()));
    if (client->confidential &&
        (secret.empty() || !crypto::ConstantTimeEqual(crypto::Sha256Hex(secret), client->secret_hash)))
      co_return MakeError(Errc::kUnauthorized, "client authentication failed");
    co_return std::move(*client);
  }

  // Whether the grant is revoked (or was already, or is gone).
  awaitable<bool> RevokeGrant(const std::string& grant_id, std::string_view why) {
    spdlog::warn("revoking grant {}: {}", grant_id, why);
    api::Caller as_admin;  // the broker acts as admin
    api::GrantChange revoke = api::Revoke();
    std::string actor = "broker";
    auto revoked = co_await api::ChangeGrant(ctx_, grant_id, as_admin, std::move(revoke), std::move(actor));
    if (!revoked && revoked.error().code != Errc::kNotFound)
      spdlog::error("grant {} not revoked: {}", grant_id, revoked.error().message);
    co_return revoked || revoked.error().code == Errc::kNotFound;
  }

  api::BrokerContext& ctx_;
};

// A coroutine for an answer made without waiting (its argument lives in its frame).
awaitable<Response> Answer(Response res) { co_return res; }

}  // namespace

void AddOAuthRoutes(http::Router& router, api::BrokerContext& ctx) {
  auto api = std::make_shared<OAuthApi>(ctx);
  router.Add(http::Verb::get, "/.well-known/oauth-authorization-server", http::BindMethod<&OAuthApi::Metadata>(api));
  router.Add(http::Verb::get, "/oauth/authorize", http::BindMethod<&OAuthApi::Authorize>(api));
  router.Add(http::Verb::post, "/oauth/token", http::BindMethod<&OAuthApi::Token>(api));
  router.Add(http::Verb::post, "/oauth/revoke", http::BindMethod<&OAuthApi::Revoke>(api));
  router.Add(http::Verb::post, "/oauth/register", http::BindMethod<&OAuthApi::Register>(api));
  router.Add(http::Verb::post, "/oauth/device_authorization", http::BindMethod<&OAuthApi::DeviceAuthorization>(api));
  router.Add(http::Verb::post, "/oauth/introspect", http::BindMethod<&OAuthApi::Introspect>(api));
  for (const api::ProtectedResource& resource : ctx.resources) {
    auto metadata = [api, resource](Request&, const http::PathParams&, http::Exchange&) {
      return Answer(api->ResourceMetadata(resource));
    };
    router.Add(http::Verb::get, std::string(api::kResourceMetadataPath) + resource.path, std::move(metadata));
  }
}

awaitable<Result<WaitingApp>> FindWaitingApp(api::BrokerContext& ctx, const std::string& grant_id) {
  auto read = [grant_id, now = ctx.clock()](store::Store& s) -> Result<WaitingApp> {
    auto pending = s.Flows().FindPendingAuthorization(grant_id, now);
    if (!pending) return pending.error();
    if (*pending)
      return WaitingApp{(*pending)->lifetime_seconds, RedirectOrigin((*pending)->redirect_uri),
                        MetadataHost((*pending)->client_id), SplitOnSpaces((*pending)->resources)};
    auto device = s.Flows().FindDeviceByGrant(grant_id);
    if (!device) return device.error();
    if (*device && (*device)->expires_at >= now)
      return WaitingApp{(*device)->lifetime_seconds, "", MetadataHost((*device)->client_id),
                        SplitOnSpaces((*device)->resources), true};
    return WaitingApp{};
  };
  co_return co_await api::OnStore(ctx, std::move(read));
}

awaitable<std::optional<std::string>> FinishAuthorization(api::BrokerContext& ctx, const std::string& grant_id,
                                                          bool approved) {
  UnixSeconds now = ctx.clock();
  // One atomic step each: of two brokers finishing the same request, one decides the device's or
  // takes the app's request; the other finds nothing left to finish.
  struct Finished {
    bool device = false;                                 // a device's request, now decided
    std::optional<store::PendingAuthorizationRecord> app;  // an app's request, now taken
  };
  auto finish = [grant_id, approved, now](store::Store& s) -> Result<Finished> {
    auto decided = s.Flows().DecideDevice(grant_id, approved);
    if (!decided) return decided.error();
    if (*decided) return Finished{true, std::nullopt};
    auto taken = s.Flows().TakePendingAuthorization(grant_id, now);
    if (!taken) return taken.error();
    return Finished{false, std::move(*taken)};
  };
  auto finished = co_await api::OnStore(ctx, std::move(finish));
  if (!finished) co_return std::nullopt;
  if (finished->device) co_return "/device?done=" + std::string(approved ? "approved" : "denied");
  if (!finished->app) co_return std::nullopt;
  const store::PendingAuthorizationRecord& pending = *finished->app;
  auto back = [&](const std::string& query) { return BackToClient(ctx, pending.redirect_uri, pending.state, query); };
  if (!approved) co_return back("error=access_denied");
  std::string code = RandomToken(32);
  store::AuthorizationCodeRecord record{crypto::Sha256Hex(code), pending.client_id, pending.redirect_uri,
                                        pending.code_challenge,  grant_id,          now + kCodeSeconds,
                                        pending.resources};
  auto insert = [record](store::Store& s) { return s.OAuth().CreateAuthorizationCode(record); };
  if (auto stored = co_await api::OnStore(ctx, std::move(insert)); !stored) co_return back("error=server_error");
  co_return back("code=" + code);
}

}  // namespace ap::oauth
