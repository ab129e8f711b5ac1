#pragma once
// The owner's provider keys over HTTP: GET /keys, POST /keys {provider, label, key}, DELETE
// /keys/:id. A signed-in owner manages their own keys (session + X-CSRF-Token); the owner token
// manages the operator's. A key is never answered, logged or echoed in an error: only its last 4
// characters, as `hint`.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::api {

void AddKeyRoutes(http::Router& router, BrokerContext& ctx);

// Checks a key and label an owner submits (the same rules for the API, the pages and the CLI);
// the errors name the field, never the key.
Status CheckNewKey(std::string_view label, std::string_view key);
inline constexpr std::string_view kDefaultKeyLabel = "default";

}  // namespace ap::api
