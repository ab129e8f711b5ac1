#pragma once
// Random identifiers and secrets from the operating system's CSPRNG (OpenSSL RAND_bytes).

#include <cstdint>
#include <string>
#include <string_view>

namespace ap {

// `bytes` random bytes, as they are.
std::string RandomBytes(size_t bytes);
// `bytes` random bytes, base64url encoded: for secrets (request secrets, owner tokens).
std::string RandomToken(size_t bytes = 32);
// An RFC 4122 version 4 UUID, lower-case: for grant, request and token ids (the reference uses UUIDs).
std::string RandomUuid();
// A random number from 1 to 2^63 - 1: for ids a store compares (not a secret).
int64_t RandomNumberId();
// `length` characters drawn uniformly from `alphabet` (at most 256 characters).
std::string RandomCode(std::string_view alphabet, size_t length);

}  // namespace ap
