#pragma once
// SHA-256, HMAC-SHA-256 and constant-time comparison for secrets.

#include <string>
#include <string_view>

namespace ap::crypto {

// The 32 raw bytes of SHA-256(data).
std::string Sha256(std::string_view data);
// The 32 raw bytes of HMAC-SHA-256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);
// Lower-case hex of SHA-256(data): how secrets are stored at rest.
std::string Sha256Hex(std::string_view data);
// Compares in time that depends only on the lengths, never on where the inputs differ.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace ap::crypto
