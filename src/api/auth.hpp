#pragma once
// Who may manage grants: the admin (`Authorization: Bearer <owner token>`, compared by SHA-256 in
// constant time against AIPASSPORT_ADMIN_TOKEN or the hash kept in the store), who sees every
// grant; or a signed-in owner (session cookie, plus `X-CSRF-Token` with the session's token on
// anything but GET), who sees their own grants and the requests still waiting for an owner.
// A browser's state-changing request from another origin is refused before anything else is looked
// at, here for the owner API and through SameOriginOnly for the pages' forms: one rule, one place.

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "api/broker_context.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace ap::api {

inline constexpr std::string_view kOwnerTokenSetting = "owner_token_sha256";

struct Caller {
  std::optional<store::OwnerRecord> owner;  // none: the admin token
  bool IsAdmin() const { return !owner; }
};

// kForbidden when a browser sent this POST, PATCH or DELETE from another origin, or from none
// (`Origin: null`, `Sec-Fetch-Site` other than same-origin); see http::CrossOriginReason.
Status RequireSameOrigin(const BrokerContext& ctx, const http::Request& request);

// `handler` behind RequireSameOrigin: every page route that changes something is added through it.
http::RouteHandler SameOriginOnly(const BrokerContext& ctx, http::RouteHandler handler);

// The owner's credential on `request` from the client address `peer`: a signed-in session (cookie,
// with X-CSRF-Token on a change), or the owner token as a bearer token, whose guesses are slowed
// per address (Throttles::owner_credentials): 401 when wrong or missing, 429 while the address has
// a slowed check running.
boost::asio::awaitable<Result<Caller>> RequireOwner(BrokerContext& ctx, const http::Request& request,
                                                    std::string_view peer);

// The owner `caller` acts for: the signed-in owner, or the operator for the owner token. Lets
// the vault know the owner (it may spend the environment's keys if the operator shares them).
std::string ActingOwner(BrokerContext& ctx, const Caller& caller);

// Whether `caller` may see and change `grant`.
bool MayManage(const Caller& caller, const store::GrantRecord& grant);

// Why an app's credential was refused, for the challenge of the 401.
enum class TokenFault {
  kNone,          // none was presented
  kInvalidToken,  // one was, and is not good here: malformed, expired, revoked, another resource's
  kInvalidProof,  // a DPoP-bound token came without a good proof: missing, bad or replayed
};

// The one place a 401 from a protected path (an app's call) gets its WWW-Authenticate:
// `Bearer resource_metadata="<the metadata URL of the resource `target` lies under>"` (RFC 9728
// §5.1), plus error="invalid_token" when a credential was presented (RFC 6750 §3). `dpop` (a
// DPoP-bound token, or one presented as DPoP) answers in the DPoP scheme with `algs` and, for a
// missing, bad or replayed proof, error="invalid_dpop_proof" (RFC 9449 §7.1). `description`
// (the body's message, never a secret) becomes error_description. The body is left as it is.
void SetChallenge(http::Response& res, const BrokerContext& ctx, std::string_view target, TokenFault fault, bool dpop,
                  std::string_view description = {});

}  // namespace ap::api
