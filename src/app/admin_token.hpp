#pragma once
// The owner token: generated at first start and kept only as a SHA-256 hash, or given by
// AIPASSPORT_ADMIN_TOKEN.

#include <optional>
#include <string>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::app {

inline constexpr size_t kMinAdminTokenLength = 24;
inline constexpr size_t kMinAdminTokenCharacters = 8;

// Makes a new owner token, stores its hash and returns it (to be shown once).
Result<std::string> ResetOwnerToken(store::Store& store);
// The token to show at start: a new one on first start, nothing if one exists already.
Result<std::optional<std::string>> EnsureOwnerToken(store::Store& store);
inline constexpr std::string_view kOperatorSetting = "operator_owner_id";
inline constexpr std::string_view kOperatorName = "operator";
// The operator's account, made at first start (named "operator", with no password until
// `aipassport user passwd operator` gives it one): the owner token acts for it, the
// environment's provider keys are its keys, and decided grants without an owner become its.
Result<store::OwnerRecord> EnsureOperatorAccount(store::Store& store, UnixSeconds now);

// Refuses a token from the environment that is too short to be a secret.
Status CheckAdminTokenStrength(std::string_view token);

}  // namespace ap::app
