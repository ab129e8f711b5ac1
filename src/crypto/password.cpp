#include "crypto/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace ap::crypto {
namespace {

void InitSodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium cannot be initialised");
}

}  // namespace

Result<std::string> HashPassword(std::string_view password) {
  InitSodium();
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength)
    return Error{Errc::kValidation,
                 "The password must have " + std::to_string(kMinPasswordLength) + " to " +
                     std::to_string(kMaxPasswordLength) + " characters",
                 {{"password", "Expected " + std::to_string(kMinPasswordLength) + " to " +
                                   std::to_string(kMaxPasswordLength) + " characters"}}};
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return MakeError(Errc::kInternal, "not enough memory to hash the password");
  return std::string(out);
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  InitSodium();
  if (hash.size() >= crypto_pwhash_STRBYTES || !hash.starts_with("$argon2id$")) return false;
  std::string terminated(hash);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

void VerifyNothing(std::string_view password) {
  // A fixed argon2id hash of a random password nobody knows, with the same cost as ours.
  static const std::string decoy = HashPassword("decoy password that matches nothing").value();
  VerifyPassword(decoy, password);
}

}  // namespace ap::crypto
