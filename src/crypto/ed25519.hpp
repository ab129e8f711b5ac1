#pragma once
// Ed25519 keys (RFC 8032) on OpenSSL's EVP interface.
// Thread-safety: a const Ed25519Key may be used from many threads at once.

#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace ap::crypto {

class Ed25519Key {
 public:
  static Ed25519Key Generate();
  static Result<Ed25519Key> FromPrivateRaw(std::string_view seed32);
  static Result<Ed25519Key> FromPublicRaw(std::string_view public32);
  static Result<Ed25519Key> FromPrivatePem(std::string_view pem);

  std::string PublicRaw() const;
  std::string PrivatePem() const;  // PKCS#8; only for keys with a private half

  // The 64-byte signature of `message`. Requires the private half.
  std::string Sign(std::string_view message) const;
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const;
  };
  Ed25519Key(EVP_PKEY* key, bool has_private) : key_(key, Free{}), has_private_(has_private) {}
  std::shared_ptr<EVP_PKEY> key_;
  bool has_private_ = false;
};

}  // namespace ap::crypto
