#include "crypto/p256.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

namespace ap::crypto {
namespace {

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// R||S as the DER ECDSA-Sig-Value OpenSSL verifies; empty when R or S is out of range.
std::string DerSignature(std::string_view rs) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(Bytes(rs.substr(0, 32)), 32, nullptr);
  BIGNUM* s = BN_bin2bn(Bytes(rs.substr(32)), 32, nullptr);
  std::string der;
  if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = nullptr;  // owned by sig now
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(sig, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return der;
}

}  // namespace

P256PublicKey::P256PublicKey(EVP_PKEY* key) : key_(key, EVP_PKEY_free) {}

Result<P256PublicKey> P256PublicKey::FromCoordinates(std::string_view x32, std::string_view y32) {
  if (x32.size() != 32 || y32.size() != 32) return MakeError(Errc::kBadRequest, "a P-256 coordinate has 32 bytes");
  std::string point = "\x04" + std::string(x32) + std::string(y32);
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  bool made = ctx && params && EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(build);
  if (!made) return MakeError(Errc::kBadRequest, "invalid P-256 public key");
  // fromdata does not check the point: a point off the curve could leak or accept anything.
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  bool on_curve = check && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!on_curve) {
    EVP_PKEY_free(key);
    return MakeError(Errc::kBadRequest, "the P-256 public key is not on the curve");
  }
  return P256PublicKey(key);
}

bool P256PublicKey::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != 64) return false;
  std::string der = DerSignature(signature);
  if (der.empty()) return false;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(md, Bytes(der), der.size(), Bytes(message), message.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

}  // namespace ap::crypto
