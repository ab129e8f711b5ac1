#pragma once
// What an app asks for in an OAuth request: Rich Authorization Requests (RFC 9396)
// `authorization_details` with one item of type `ai_access`:
//   {"type": "ai_access", "provider": "openai", "models": ["gpt-4o-mini"], "capabilities": ["chat"],
//    "max_budget_cents": 500, "max_requests": 100, "rate_limit": 10, "lifetime_seconds": 604800,
//    "reason": "summaries"}
// or the shorthand `scope=openai:chat openai:embeddings` (any model, no limits, one hour).
// Every problem is an `invalid_authorization_details` (RFC 9396 §5) with a sentence saying what.

#include <boost/json/fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "domain/scope.hpp"

namespace ap::oauth {

inline constexpr int64_t kDefaultLifetimeSeconds = 3600;
inline constexpr int64_t kMaxLifetimeSeconds = 366LL * 24 * 3600;

struct AccessRequest {
  domain::Scope scope;
  int64_t lifetime_seconds = kDefaultLifetimeSeconds;
  bool lifetime_named = false;  // lifetime_seconds was asked for, not the default
  std::string reason;
};

Result<AccessRequest> ParseAuthorizationDetails(std::string_view json_text, const std::vector<std::string>& providers);
Result<AccessRequest> ParseScopeShorthand(std::string_view scope, const std::vector<std::string>& providers);
// `authorization_details` if the request has it, else its `scope`; nullopt when it has neither.
std::optional<Result<AccessRequest>> ParseAccessRequest(std::string_view details, std::string_view scope,
                                                        const std::vector<std::string>& providers);
// What of `asked` reaches beyond what was granted (`granted`, for `granted_lifetime` seconds), as a
// sentence; nullopt when it stays inside. A token request may not ask for more than its grant holds
// (RFC 9396 §6.2, RFC 6749 §6): it is refused, never silently narrowed.
std::optional<std::string> BeyondGrant(const AccessRequest& asked, const domain::Scope& granted,
                                       int64_t granted_lifetime);
// The same for the shorthand `scope` of a token request, which names only a provider and its
// capabilities: a client repeating the scope it was granted (RFC 6749 §6 allows it) is not refused
// for the models and limits the owner set, which the shorthand cannot say.
std::optional<std::string> ScopeBeyondGrant(const AccessRequest& asked, const domain::Scope& granted);
// What was granted, as authorization_details for the token response.
boost::json::array GrantedDetails(const domain::Scope& scope, int64_t lifetime_seconds);

}  // namespace ap::oauth
