#include "crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <memory>
#include <new>
#include <stdexcept>

namespace ap::crypto {
namespace {

// OpenSSL 3's one-shot SHA256() looks the algorithm up and allocates a context on every call
// (about 450 ns against 200 ns here); every call a token makes is hashed, so the algorithm is
// fetched once and each thread keeps a context.
// Never freed: OpenSSL frees its providers at exit, after which nothing hashes.
const EVP_MD* Sha256Algorithm() {
  static EVP_MD* const algorithm = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!fetched) throw std::runtime_error("OpenSSL offers no SHA-256");  // not kept: the next call tries again
    return fetched;
  }();
  return algorithm;
}

struct FreeDigestContext {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

}  // namespace

std::string Sha256(std::string_view data) {
  thread_local std::unique_ptr<EVP_MD_CTX, FreeDigestContext> context(EVP_MD_CTX_new());
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  unsigned int size = 0;
  const EVP_MD* algorithm = Sha256Algorithm();
  if (!context || !EVP_DigestInit_ex2(context.get(), algorithm, nullptr) ||
      !EVP_DigestUpdate(context.get(), data.data(), data.size()) ||
      !EVP_DigestFinal_ex(context.get(), reinterpret_cast<unsigned char*>(out.data()), &size))
    throw std::bad_alloc();  // OpenSSL fails here only when it cannot allocate
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string raw = Sha256(data);
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ap::crypto
