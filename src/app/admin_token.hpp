#pragma once
// The owner token: generated at first start and kept only as a SHA-256 hash, or given by
// AIPASSPORT_ADMIN_TOKEN.

#include <optional>
#include <string>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::app {

inline constexpr size_t kMinAdminTokenLength = 24;

// Makes a new owner token, stores its hash and returns it (to be shown once).
Result<std::string> ResetOwnerToken(store::Store& store);
// The token to show at start: a new one on first start, nothing if one exists already.
Result<std::optional<std::string>> EnsureOwnerToken(store::Store& store);
// Refuses a token from the environment that is too short to be a secret.
Status CheckAdminTokenStrength(std::string_view token);

}  // namespace ap::app
