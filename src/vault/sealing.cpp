#include "vault/sealing.hpp"

#include <sodium.h>

#include <stdexcept>

namespace ap::vault {
namespace {

constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kKeyBytes);

void InitSodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium cannot be initialised");
}

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// nonce || ciphertext || tag
std::string Encrypt(const KeyBytes& key, std::string_view plain, std::string_view associated) {
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonce);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonce, &written, Bytes(plain), plain.size(), Bytes(associated),
                                             associated.size(), nullptr, nonce, key.data());
  return out;
}

std::optional<std::string> Decrypt(const KeyBytes& key, std::string_view sealed, std::string_view associated) {
  if (sealed.size() < kNonce + kTag) return std::nullopt;
  std::string plain(sealed.size() - kNonce - kTag, '\0');
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &length, nullptr,
                                                 Bytes(sealed) + kNonce, sealed.size() - kNonce, Bytes(associated),
                                                 associated.size(), Bytes(sealed), key.data()) != 0)
    return std::nullopt;
  return plain;
}

std::string KeyContext(const store::ProviderKeyRecord& r) {
  std::string out = "aipassport key v1";
  for (const std::string* part : {&r.id, &r.owner_id, &r.provider, &r.label}) out += '\0' + *part;
  return out;
}

std::string DataKeyContext(const store::ProviderKeyRecord& r) { return "aipassport data key v1" + std::string(1, '\0') + r.id; }

Result<KeyBytes> UnwrapDataKey(const MasterKey& master, const store::ProviderKeyRecord& record) {
  auto plain = Decrypt(master.Bytes(), record.wrapped_data_key, DataKeyContext(record));
  if (!plain || plain->size() != kKeyBytes)
    return MakeError(Errc::kValidation, "key " + record.id + " does not open with this master key");
  KeyBytes data_key{};
  std::copy(plain->begin(), plain->end(), data_key.begin());
  sodium_memzero(plain->data(), plain->size());
  return data_key;
}

constexpr std::string_view kAuditKeyContext = "aipassport audit chain key v1";

std::string AsText(const KeyBytes& bytes) { return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }

}  // namespace

Result<std::string> AuditChainKey(const MasterKey& master, store::KeyStore& keys) {
  InitSodium();
  KeyBytes fresh{};
  crypto_aead_xchacha20poly1305_ietf_keygen(fresh.data());
  std::string wrapped = Encrypt(master.Bytes(), AsText(fresh), kAuditKeyContext);
  sodium_memzero(fresh.data(), fresh.size());
  auto stored = keys.WrappedAuditKey(wrapped, master.Id());
  if (!stored) return stored.error();
  auto key = Decrypt(master.Bytes(), *stored, kAuditKeyContext);
  if (!key || key->size() != kKeyBytes)
    return MakeError(Errc::kValidation, "the audit trail's key does not open with this master key");
  return std::move(*key);
}

Result<std::string> RewrapAuditKey(const MasterKey& from, const MasterKey& to, store::KeyStore& keys) {
  auto key = AuditChainKey(from, keys);
  if (!key) return key.error();
  std::string wrapped = Encrypt(to.Bytes(), *key, kAuditKeyContext);
  sodium_memzero(key->data(), key->size());
  return wrapped;
}

void Seal(const MasterKey& master, std::string_view secret, store::ProviderKeyRecord& record) {
  InitSodium();
  KeyBytes data_key{};
  crypto_aead_xchacha20poly1305_ietf_keygen(data_key.data());
  record.sealed = Encrypt(data_key, secret, KeyContext(record));
  record.wrapped_data_key =
      Encrypt(master.Bytes(), std::string_view(reinterpret_cast<const char*>(data_key.data()), kKeyBytes),
              DataKeyContext(record));
  record.master_id = master.Id();
  sodium_memzero(data_key.data(), data_key.size());
}

Result<std::string> Unseal(const MasterKey& master, const store::ProviderKeyRecord& record) {
  InitSodium();
  auto data_key = UnwrapDataKey(master, record);
  if (!data_key) return data_key.error();
  auto secret = Decrypt(*data_key, record.sealed, KeyContext(record));
  sodium_memzero(data_key->data(), data_key->size());
  if (!secret) return MakeError(Errc::kValidation, "key " + record.id + " was altered: its seal does not open");
  return std::move(*secret);
}

Result<std::string> Rewrap(const MasterKey& from, const MasterKey& to, const store::ProviderKeyRecord& record) {
  InitSodium();
  auto data_key = UnwrapDataKey(from, record);
  if (!data_key) return data_key.error();
  std::string wrapped =
      Encrypt(to.Bytes(), std::string_view(reinterpret_cast<const char*>(data_key->data()), kKeyBytes),
              DataKeyContext(record));
  sodium_memzero(data_key->data(), data_key->size());
  return wrapped;
}

}  // namespace ap::vault
