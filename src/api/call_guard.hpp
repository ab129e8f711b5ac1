#pragma once
// The checks every proxied call passes before it may go upstream, in this order: the bearer token,
// the grant behind it, the grant's scope (capability and model) and the provider key; then its
// limits (MeteredCall). Each step answers with the error the app should see.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "api/broker_context.hpp"
#include "domain/grant.hpp"
#include "domain/token_service.hpp"
#include "http/message.hpp"
#include "proxy/providers.hpp"

namespace ap::api {

// Reads a grant from the store (on the store thread) and parses its scope.
boost::asio::awaitable<Result<domain::Grant>> LoadGrant(BrokerContext& ctx, std::string id);

// The grant of a delegated token, if the token is valid and the grant usable now. A token bound to
// a DPoP key (cnf.jkt) is accepted only as `Authorization: DPoP` (`dpop`) with a proof of `request`
// signed by that key; an unbound one only as a bearer token. `known`, when given, is set to the
// token's grant even when it is not usable now (revoked, expired, used up), for the activity record;
// `claims`, when given, to the token's verified claims (its jti and lifetime, for its last use).
boost::asio::awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeToken(
    BrokerContext& ctx, const http::Request& request, std::string_view token, bool dpop,
    std::shared_ptr<const domain::Grant>* known = nullptr, domain::TokenClaims* claims = nullptr);
// The same for the request's `Authorization: Bearer` or `Authorization: DPoP` token.
boost::asio::awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeBearer(
    BrokerContext& ctx, const http::Request& request, std::shared_ptr<const domain::Grant>* known = nullptr,
    domain::TokenClaims* claims = nullptr);

// The provider to call, if the grant allows `capability` with `model`.
Result<const proxy::ProviderEndpoint*> CheckScope(const BrokerContext& ctx, const domain::Grant& grant,
                                                  std::string_view capability, std::string_view model);

// The key a call of `grant` spends on `endpoint` (its owner's, under its label), marked as used
// now; null for a keyless server. kKeyMissing when the owner has no such key (any more).
Result<vault::KeyRef> SpendingKey(const BrokerContext& ctx, const domain::Grant& grant,
                                  const proxy::ProviderEndpoint& endpoint);

}  // namespace ap::api
