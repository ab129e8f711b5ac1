#pragma once
// A public key an app presents as a JWK (a DPoP proof's `jwk` header): Ed25519 (OKP, RFC 8037) or
// P-256 (EC, RFC 7518). Only public keys; only the algorithm that belongs to the key.
// Thread-safety: a const JwkPublicKey may be used from many threads at once.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "core/error.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/p256.hpp"

namespace ap::crypto {

class JwkPublicKey {
 public:
  // Refuses private keys (a "d" member), other key types and curves, and malformed members.
  static Result<JwkPublicKey> Parse(const boost::json::object& jwk);
  // Whether `alg` is this key's JWS algorithm (EdDSA, or its fully-specified name Ed25519 from
  // RFC 9864; ES256) and `signature` verifies.
  bool Verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const;
  // base64url(SHA-256) of the required members in lexical order (RFC 7638).
  const std::string& Thumbprint() const { return thumbprint_; }

 private:
  JwkPublicKey(std::variant<Ed25519Key, P256PublicKey> key, std::string thumbprint)
      : key_(std::move(key)), thumbprint_(std::move(thumbprint)) {}
  std::variant<Ed25519Key, P256PublicKey> key_;
  std::string thumbprint_;
};

}  // namespace ap::crypto
