#pragma once
// The checks every proxied call passes before it may go upstream, in this order: the bearer token,
// the grant behind it, the grant's scope (capability and model) and the provider key; then its
// limits (MeteredCall). Each step answers with the error the app should see.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/auth.hpp"
#include "api/broker_context.hpp"
#include "domain/grant.hpp"
#include "domain/token_service.hpp"
#include "http/message.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {
struct WorstCase;
}

namespace ap::api {

// Reads a grant from the store (on the store thread) and parses its scope.
boost::asio::awaitable<Result<domain::Grant>> LoadGrant(BrokerContext& ctx, std::string id);

// What the checks of a presented token learned, kept also when they refused it.
struct TokenFacts {
  std::shared_ptr<const domain::Grant> grant;  // the token's grant, even when not usable now (for the record)
  std::shared_ptr<const domain::TokenClaims> claims;  // its verified claims, once it verified
  TokenFault fault = TokenFault::kNone;               // why it was refused, for the 401's challenge
  bool dpop = false;                                  // bound to a DPoP key, or presented as DPoP and unreadable
};

// The grant of a delegated token, if the token is valid and the grant usable now. A token bound to
// a DPoP key (cnf.jkt) is accepted only as `Authorization: DPoP` (`dpop`) with a proof of `request`
// signed by that key; an unbound one only as a bearer token. A token bound to resources (RFC 8707
// `aud`) is accepted only under one of them (protected_resources.hpp). `facts`, when given, learns
// what the checks found, also when they refused the token.
boost::asio::awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeToken(BrokerContext& ctx,
                                                                                   const http::Request& request,
                                                                                   std::string_view token, bool dpop,
                                                                                   TokenFacts* facts = nullptr);
// AuthorizeToken in two steps, so that most calls need no coroutine for it: the first decides
// without waiting where it can (the token's checks, and a grant the cache holds for a token that
// needs no DPoP proof), and returns nothing when the grant must be read from the store or a proof
// checked; the second goes on from `facts` (which the first filled) to the decision.
std::optional<Result<std::shared_ptr<const domain::Grant>>> AuthorizeTokenAtOnce(BrokerContext& ctx,
                                                                                 const http::Request& request,
                                                                                 std::string_view token, bool dpop,
                                                                                 TokenFacts& facts);
boost::asio::awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeTokenFurther(
    BrokerContext& ctx, const http::Request& request, std::string_view token, bool dpop, TokenFacts& facts);
// The same for the request's `Authorization: Bearer` or `Authorization: DPoP` token.
boost::asio::awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeBearer(BrokerContext& ctx,
                                                                                    const http::Request& request,
                                                                                    TokenFacts* facts = nullptr);

// The provider to call, if the grant allows `capability` with `model`.
Result<const proxy::ProviderEndpoint*> CheckScope(const BrokerContext& ctx, const domain::Grant& grant,
                                                  std::string_view capability, std::string_view model);
// Refused unless the grant also allows what the call's tools reach (proxy::RequestedUse::tool_models
// and tool_makes_images): a chat grant for one model cannot run another, or make images, by a tool.
Status CheckToolScope(const domain::Grant& grant, const proxy::WorstCase& worst);

// The key a call of `grant` spends on `endpoint` (its owner's, under its label), marked as used
// now; null for a keyless server. kKeyMissing when the owner has no such key (any more).
Result<vault::KeyRef> SpendingKey(const BrokerContext& ctx, const domain::Grant& grant,
                                  const proxy::ProviderEndpoint& endpoint);

}  // namespace ap::api
