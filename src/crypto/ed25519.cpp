#include "crypto/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace ap::crypto {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

void Ed25519Key::Free::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

Ed25519Key Ed25519Key::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) throw std::runtime_error("cannot generate an Ed25519 key");
  return Ed25519Key(key, true);
}

Result<Ed25519Key> Ed25519Key::FromPrivateRaw(std::string_view seed32) {
  if (seed32.size() != 32) return MakeError(Errc::kBadRequest, "an Ed25519 private key has 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed32), seed32.size());
  if (key == nullptr) return MakeError(Errc::kBadRequest, "invalid Ed25519 private key");
  return Ed25519Key(key, true);
}

Result<Ed25519Key> Ed25519Key::FromPublicRaw(std::string_view public32) {
  if (public32.size() != 32) return MakeError(Errc::kBadRequest, "an Ed25519 public key has 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(public32), public32.size());
  if (key == nullptr) return MakeError(Errc::kBadRequest, "invalid Ed25519 public key");
  return Ed25519Key(key, false);
}

Result<Ed25519Key> Ed25519Key::FromPrivatePem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) return MakeError(Errc::kBadRequest, "not a PEM private key");
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return MakeError(Errc::kBadRequest, "the PEM key is not an Ed25519 key");
  }
  return Ed25519Key(key, true);
}

std::string Ed25519Key::PublicRaw() const {
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1 || len != 32)
    throw std::runtime_error("cannot read the Ed25519 public key");
  return out;
}

std::string Ed25519Key::PrivatePem() const {
  if (!has_private_) throw std::logic_error("PrivatePem on a public key");
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw std::runtime_error("cannot encode the Ed25519 key as PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string Ed25519Key::Sign(std::string_view message) const {
  if (!has_private_) throw std::logic_error("Sign on a public key");
  MdCtx ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(message), message.size()) !=
          1)
    throw std::runtime_error("Ed25519 signing failed");
  return sig;
}

bool Ed25519Key::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != 64) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message), message.size()) == 1;
}

}  // namespace ap::crypto
