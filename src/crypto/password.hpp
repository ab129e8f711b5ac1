#pragma once
// Owner passwords, hashed with argon2id (libsodium's crypto_pwhash_str: the salt and the cost are
// in the string). Hashing and verifying take tens of milliseconds of CPU on purpose: call them on a
// worker thread, never on an I/O thread.
// Thread-safety: free functions, safe from any thread.

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ap::crypto {

inline constexpr size_t kMinPasswordLength = 12;
inline constexpr size_t kMaxPasswordLength = 1024;

// kValidation when the password is too short or too long.
Result<std::string> HashPassword(std::string_view password);
// False for a wrong password or a hash that is not an argon2id string.
bool VerifyPassword(std::string_view hash, std::string_view password);
// Does the work of one verification and fails, so that an unknown user takes as long as a wrong password.
void VerifyNothing(std::string_view password);

}  // namespace ap::crypto
