#pragma once
// The broker's token signing keys, kept in the data directory as PKCS#8 PEM (mode 0600).
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
};

class SigningKeyRing {
 public:
  // Reads `<dir>/signing-key.pem`, creating it on first start. Refuses a key file that other users
  // can read, as ssh does, rather than sign with a key that may have leaked.
  static Result<SigningKeyRing> LoadOrCreate(const std::filesystem::path& dir);
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
