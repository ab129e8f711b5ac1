#pragma once
// The OAuth 2.0 authorization server: metadata (RFC 8414) at /.well-known/oauth-authorization-server,
// the authorization code flow with PKCE S256 always required (RFC 7636) at /oauth/authorize and
// /oauth/token, Rich Authorization Requests (RFC 9396, type ai_access) or a `scope` shorthand, and
// the `iss` parameter in every answer to the redirect URI (RFC 9207). The owner decides on the same
// consent screen as for the reference's grant requests; the app gets what was granted.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::oauth {

void AddOAuthRoutes(http::Router& router, api::BrokerContext& ctx);

// OAuth requests wait for consent, and device requests for their person, this long and at most this
// many at once (live ones are never dropped to make room; a full table answers 503). They wait in
// the store, so every step of a flow may reach another broker, and a restart loses none.
inline constexpr int64_t kPendingAuthorizationSeconds = 600;
inline constexpr int64_t kMaxPendingAuthorizations = 1000;
inline constexpr int64_t kDeviceAuthorizationSeconds = 600;
inline constexpr int64_t kMaxDeviceAuthorizations = 2000;  // each at most ~25 kB (scope and reason are bounded)

// What the OAuth app or device waiting on a grant asked for.
struct WaitingApp {
  // The lifetime it asked for (the reference's grant requests ask for none).
  std::optional<int64_t> lifetime_seconds;
  // The origin ("http://127.0.0.1:53682") the consent form's answer sends the browser on to, when an
  // OAuth app waits; empty otherwise. Browsers hold that redirect to the page's form-action policy,
  // so the consent page must name it.
  std::string return_origin;
  // The host ("notes.example:8443") of the metadata document that describes the app, when its
  // client_id is that document's URL; empty for a registered app.
  std::string metadata_host;
  // The resources (RFC 8707) its tokens will be bound to, as their URLs; none: every path.
  std::vector<std::string> resources;
  // A device waits (RFC 8628): whoever holds it started the request, in any app's name a public
  // app's id gives, and gets the access.
  bool device = false;
};
// An error when it could not be read: a consent screen shown without it would leave out where the
// answer goes and what the app asked for, and offer lifetimes beyond it.
boost::asio::awaitable<Result<WaitingApp>> FindWaitingApp(api::BrokerContext& ctx, const std::string& grant_id);

// Called by the consent screen once the owner decided on `grant_id`: if the grant came from
// /oauth/authorize, the URL that sends the browser back to the app (with a one-time code, or
// error=access_denied); nullopt otherwise.
boost::asio::awaitable<std::optional<std::string>> FinishAuthorization(api::BrokerContext& ctx,
                                                                       const std::string& grant_id, bool approved);

}  // namespace ap::oauth
