#pragma once
// The broker's token signing keys and how they rotate. The keys themselves live in the store, each
// private key sealed under the vault's master key (vault/signing_ring.hpp); this is the ring made
// from them. Rotation: a new key is published in the JWKS at once but signs only `publish_seconds`
// later, so verifiers that cache the JWKS know it before they meet it; the key it replaces keeps
// verifying until the tokens it signed have expired (`verify_seconds` after it stopped signing).
// Older versions kept the keys in the data directory as PKCS#8 PEM files (`signing-key.pem` and
// `signing-keys/<unix time>.pem`); ReadKeyFiles reads them once, to import them.
// Thread-safety: immutable once made; share it freely.

#include <boost/json/object.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "crypto/ed25519.hpp"

namespace ap::crypto {

struct SigningKey {
  std::string kid;  // the key's RFC 7638 thumbprint
  Ed25519Key key;
  int64_t created_at = 0;  // 0 for a ring's first key; the unix time a rotation made it otherwise
};

struct RotationTimes {
  int64_t publish_seconds = 600;  // a new key is published this long before it signs
  int64_t verify_seconds = 3700;  // a replaced key verifies this long after it stopped signing
};

class SigningKeyRing {
 public:
  // A new random key created `now`.
  static SigningKey NewKey(int64_t now);
  // The key files an older version kept in `dir` (none: an empty list). Refuses a key file that
  // other users can read, as ssh does, rather than take in a key that may have leaked.
  static Result<std::vector<SigningKey>> ReadKeyFiles(const std::filesystem::path& dir);
  // Whether `dir` still holds an older version's key file.
  static bool HasKeyFiles(const std::filesystem::path& dir);
  // Of `keys` (any order): the one that signs at `now` first, then the others that still verify.
  // Keys created the same second are ordered by kid, so every broker picks the same one.
  static std::vector<SigningKey> Choose(std::vector<SigningKey> keys, int64_t now, RotationTimes times);
  static SigningKeyRing FromKeys(std::vector<SigningKey> keys);

  const SigningKey& Current() const { return keys_.front(); }
  // Every key: the current one first, then those that still verify.
  const std::vector<SigningKey>& All() const { return keys_; }
  const SigningKey* Find(std::string_view kid) const;
  // The public halves as a JWK Set (RFC 7517 §5).
  boost::json::object Jwks() const;

 private:
  explicit SigningKeyRing(std::vector<SigningKey> keys) : keys_(std::move(keys)) {}
  std::vector<SigningKey> keys_;
};

// `key`'s public half as published: the JWK with its kid, alg and use.
boost::json::object PublishedJwk(const SigningKey& key);

}  // namespace ap::crypto
