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

// Keeps `record` (an owner's key, sealed) in the store, unless its owner already keeps the most keys
// an owner may (100) and it replaces none of them (kValidation on `label`). The replaced key's id,
// if it replaced one. On the store thread, for the API and the pages alike.
Result<std::optional<std::string>> PutKeyWithinLimit(store::Store& s, const store::ProviderKeyRecord& record);

}  // namespace ap::api
