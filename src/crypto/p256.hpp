#pragma once
// ECDSA P-256 with SHA-256 public keys (ES256, RFC 7518 §3.4) on OpenSSL's EVP interface: only
// verification, for keys apps present (DPoP proofs).
// Thread-safety: a const P256PublicKey may be used from many threads at once.

#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace ap::crypto {

class P256PublicKey {
 public:
  // From the affine coordinates, 32 bytes each; refused when the point is not on the curve.
  static Result<P256PublicKey> FromCoordinates(std::string_view x32, std::string_view y32);
  // A 64-byte R||S signature (the JWS form) of SHA-256(message).
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  explicit P256PublicKey(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace ap::crypto
