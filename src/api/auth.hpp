#pragma once
// Who may manage grants: the admin (`Authorization: Bearer <owner token>`, compared by SHA-256 in
// constant time against AIPASSPORT_ADMIN_TOKEN or the hash kept in the store), who sees every
// grant; or a signed-in owner (session cookie, plus `X-CSRF-Token` with the session's token on
// anything but GET), who sees their own grants and the requests still waiting for an owner.

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "api/broker_context.hpp"
#include "http/message.hpp"

namespace ap::api {

inline constexpr std::string_view kOwnerTokenSetting = "owner_token_sha256";

struct Caller {
  std::optional<store::OwnerRecord> owner;  // none: the admin token
  bool IsAdmin() const { return !owner; }
};

boost::asio::awaitable<Result<Caller>> RequireOwner(BrokerContext& ctx, const http::Request& request);

// The owner `caller` acts for: the signed-in owner, or the operator for the owner token. Lets
// the vault know the owner (it may spend the environment's keys if the operator shares them).
std::string ActingOwner(BrokerContext& ctx, const Caller& caller);

// Whether `caller` may see and change `grant`.
bool MayManage(const Caller& caller, const store::GrantRecord& grant);

}  // namespace ap::api
