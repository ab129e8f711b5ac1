#pragma once
// The broker's token signing keys, kept in the data directory as PKCS#8 PEM (mode 0600):
// `signing-key.pem` (the first key) and `signing-keys/<unix time>.pem` (keys added by rotation).
// Rotation: a new key is published in the JWKS at once but signs only `publish_seconds` later, so
// verifiers that cache the JWKS know it before they meet it; the key it replaces keeps verifying
// until the tokens it signed have expired (`verify_seconds` after it stopped signing).
// Thread-safety: immutable after Load; share it freely.

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
  int64_t created_at = 0;  // 0 for the first key
};

struct RotationTimes {
  int64_t publish_seconds = 600;  // a new key is published this long before it signs
  int64_t verify_seconds = 3700;  // a replaced key verifies this long after it stopped signing
};

class SigningKeyRing {
 public:
  // Reads the keys, creating the first on first start, and picks the one that signs now. Refuses a
  // key file that other users can read, as ssh does, rather than sign with a key that may have leaked.
  static Result<SigningKeyRing> LoadOrCreate(const std::filesystem::path& dir, int64_t now = 0,
                                             RotationTimes times = {});
  // Adds a key created `now`; returns it. It signs once `times.publish_seconds` have passed.
  static Result<SigningKey> AddKey(const std::filesystem::path& dir, int64_t now);
  // Of `keys` (any order): the one that signs at `now` first, then the others that still verify.
  static std::vector<SigningKey> Choose(std::vector<SigningKey> keys, int64_t now, RotationTimes times);
  static SigningKeyRing FromKeys(std::vector<SigningKey> keys);

  const SigningKey& Current() const { return keys_.front(); }
  const SigningKey* Find(std::string_view kid) const;
  // The public halves as a JWK Set (RFC 7517 §5).
  boost::json::object Jwks() const;

 private:
  explicit SigningKeyRing(std::vector<SigningKey> keys) : keys_(std::move(keys)) {}
  std::vector<SigningKey> keys_;
};

// Writes `content` to `path` atomically (temporary file, fsync, rename) with the given mode.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content, unsigned mode);

}  // namespace ap::crypto
