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

std::string SecretContext(std::string_view kind, std::string_view id) {
  return "aipassport secret v1" + std::string(1, '\0') + std::string(kind) + '\0' + std::string(id);
}

std::string SecretDataKeyContext(std::string_view kind, std::string_view id) {
  return "aipassport secret data key v1" + std::string(1, '\0') + std::string(kind) + '\0' + std::string(id);
}

// The sealed secret and its wrapped data key, each bound to its context.
std::pair<std::string, std::string> SealWith(const MasterKey& master, std::string_view secret,
                                             std::string_view secret_context, std::string_view data_key_context) {
  InitSodium();
  KeyBytes data_key{};
  crypto_aead_xchacha20poly1305_ietf_keygen(data_key.data());
  std::string sealed = Encrypt(data_key, secret, secret_context);
  std::string wrapped = Encrypt(master.Bytes(), std::string_view(reinterpret_cast<const char*>(data_key.data()), kKeyBytes),
                                data_key_context);
  sodium_memzero(data_key.data(), data_key.size());
  return {std::move(sealed), std::move(wrapped)};
}

Result<KeyBytes> UnwrapDataKey(const MasterKey& master, std::string_view wrapped, std::string_view context,
                               std::string_view name) {
  auto plain = Decrypt(master.Bytes(), wrapped, context);
  if (!plain || plain->size() != kKeyBytes)
    return MakeError(Errc::kValidation, std::string(name) + " does not open with this master key");
  KeyBytes data_key{};
  std::copy(plain->begin(), plain->end(), data_key.begin());
  sodium_memzero(plain->data(), plain->size());
  return data_key;
}

Result<std::string> UnsealWith(const MasterKey& master, std::string_view sealed, std::string_view wrapped,
                               std::string_view secret_context, std::string_view data_key_context, std::string_view name) {
  InitSodium();
  auto data_key = UnwrapDataKey(master, wrapped, data_key_context, name);
  if (!data_key) return data_key.error();
  auto secret = Decrypt(*data_key, sealed, secret_context);
  sodium_memzero(data_key->data(), data_key->size());
  if (!secret) return MakeError(Errc::kInternal, std::string(name) + " was altered: its seal does not open");
  return std::move(*secret);
}

Result<std::string> RewrapWith(const MasterKey& from, const MasterKey& to, std::string_view wrapped,
                               std::string_view data_key_context, std::string_view name) {
  InitSodium();
  auto data_key = UnwrapDataKey(from, wrapped, data_key_context, name);
  if (!data_key) return data_key.error();
  std::string rewrapped =
      Encrypt(to.Bytes(), std::string_view(reinterpret_cast<const char*>(data_key->data()), kKeyBytes), data_key_context);
  sodium_memzero(data_key->data(), data_key->size());
  return rewrapped;
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
  auto [sealed, wrapped] = SealWith(master, secret, KeyContext(record), DataKeyContext(record));
  record.sealed = std::move(sealed);
  record.wrapped_data_key = std::move(wrapped);
  record.master_id = master.Id();
}

Result<std::string> Unseal(const MasterKey& master, const store::ProviderKeyRecord& record) {
  return UnsealWith(master, record.sealed, record.wrapped_data_key, KeyContext(record), DataKeyContext(record),
                    "key " + record.id);
}

Result<std::string> Rewrap(const MasterKey& from, const MasterKey& to, const store::ProviderKeyRecord& record) {
  return RewrapWith(from, to, record.wrapped_data_key, DataKeyContext(record), "key " + record.id);
}

SealedSecret SealSecret(const MasterKey& master, std::string_view kind, std::string_view id, std::string_view secret) {
  auto [sealed, wrapped] = SealWith(master, secret, SecretContext(kind, id), SecretDataKeyContext(kind, id));
  return SealedSecret{std::move(sealed), std::move(wrapped), master.Id()};
}

Result<std::string> UnsealSecret(const MasterKey& master, std::string_view kind, std::string_view id,
                                 const SealedSecret& sealed) {
  return UnsealWith(master, sealed.sealed, sealed.wrapped_data_key, SecretContext(kind, id),
                    SecretDataKeyContext(kind, id), std::string(kind) + " " + std::string(id));
}

Result<std::string> RewrapSecret(const MasterKey& from, const MasterKey& to, std::string_view kind, std::string_view id,
                                 std::string_view wrapped_data_key) {
  return RewrapWith(from, to, wrapped_data_key, SecretDataKeyContext(kind, id), std::string(kind) + " " + std::string(id));
}

}  // namespace ap::vault
