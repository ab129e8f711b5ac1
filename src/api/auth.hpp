#pragma once
// The owner's credential: `Authorization: Bearer <owner token>`, compared by SHA-256 in constant
// time against AIPASSPORT_ADMIN_TOKEN or the hash kept in the store.

#include <boost/asio/awaitable.hpp>

#include "api/broker_context.hpp"
#include "http/message.hpp"

namespace ap::api {

inline constexpr std::string_view kOwnerTokenSetting = "owner_token_sha256";

boost::asio::awaitable<Status> RequireOwner(BrokerContext& ctx, const http::Request& request);

}  // namespace ap::api
