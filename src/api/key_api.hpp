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

// Stores an owner's key (sealed in `record`) and holds it in `vault`, on the store thread, where the
// vault is also reloaded when another broker or command changed the keys: held after the reload
// that follows a later change, a key that change replaced or removed would be spent again until the
// next one. The replaced key's id, if it replaced one.
Result<std::optional<std::string>> StoreKey(store::Store& s, vault::Vault& vault,
                                            const store::ProviderKeyRecord& record, std::string_view secret);

}  // namespace ap::api
