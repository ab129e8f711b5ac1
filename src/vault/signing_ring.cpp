#include "vault/signing_ring.hpp"

#include <sodium.h>

#include <boost/json/serialize.hpp>

#include "crypto/jws.hpp"
#include "vault/sealing.hpp"

namespace ap::vault {
namespace {

constexpr std::string_view kKind = "signing key";

}  // namespace

store::SigningKeyRecord SealSigningKey(const MasterKey& master, const crypto::SigningKey& key) {
  std::string pem = key.key.PrivatePem();
  SealedSecret sealed = SealSecret(master, kKind, key.kid, pem);
  sodium_memzero(pem.data(), pem.size());
  return store::SigningKeyRecord{key.kid,
                                 boost::json::serialize(crypto::PublishedJwk(key)),
                                 std::move(sealed.sealed),
                                 std::move(sealed.wrapped_data_key),
                                 std::move(sealed.master_id),
                                 key.created_at};
}

Result<std::vector<crypto::SigningKey>> UnsealSigningKeys(const MasterKey& master,
                                                          const std::vector<store::SigningKeyRecord>& records) {
  std::vector<crypto::SigningKey> keys;
  for (const auto& r : records) {
    auto pem = UnsealSecret(master, kKind, r.kid, SealedSecret{r.sealed, r.wrapped_data_key, r.master_id});
    if (!pem) return pem.error();
    auto key = crypto::Ed25519Key::FromPrivatePem(*pem);
    sodium_memzero(pem->data(), pem->size());
    if (!key) return MakeError(Errc::kInternal, "signing key " + r.kid + " is damaged: " + key.error().message);
    if (crypto::JwkThumbprint(*key) != r.kid)
      return MakeError(Errc::kInternal, "signing key " + r.kid + " holds another key than its kid names");
    keys.push_back(crypto::SigningKey{r.kid, std::move(*key), r.created_at});
  }
  return keys;
}

Result<OpenedRing> OpenSigningKeys(const MasterKey& master, store::SigningKeyStore& store,
                                   const std::filesystem::path& data_dir) {
  OpenedRing opened;
  auto stored = store.ListSigningKeys();
  if (!stored) return stored.error();
  if (stored->empty()) {
    auto files = crypto::SigningKeyRing::ReadKeyFiles(data_dir);
    if (!files) return files.error();
    std::vector<crypto::SigningKey> fresh = std::move(*files);
    bool from_files = !fresh.empty();
    // The first key is older than any rotation, even one made the same second.
    if (!from_files) fresh.push_back(crypto::SigningKeyRing::NewKey(0));
    std::vector<store::SigningKeyRecord> records;
    for (const auto& key : fresh) records.push_back(SealSigningKey(master, key));
    auto made = store.InitSigningKeys(records);
    if (!made) return made.error();
    if (*made) {
      opened.imported = from_files ? fresh.size() : 0;
      opened.created = !from_files;
    }
  }
  auto records = store.ListSigningKeys();
  if (!records) return records.error();
  auto keys = UnsealSigningKeys(master, *records);
  if (!keys) return keys.error();
  if (keys->empty()) return MakeError(Errc::kInternal, "the signing key ring is empty");
  opened.keys = std::move(*keys);
  opened.records = std::move(*records);
  return opened;
}

Result<crypto::SigningKey> AddSigningKey(const MasterKey& master, store::SigningKeyStore& store, UnixSeconds now,
                                         store::OlderKeys older) {
  crypto::SigningKey key = crypto::SigningKeyRing::NewKey(now);
  if (auto added = store.AddSigningKey(SealSigningKey(master, key), older); !added) return added.error();
  return key;
}

Result<std::vector<store::RewrappedKey>> RewrapSigningKeys(const MasterKey& from, const MasterKey& to,
                                                           store::SigningKeyStore& store) {
  auto records = store.ListSigningKeys();
  if (!records) return records.error();
  std::vector<store::RewrappedKey> out;
  for (const auto& r : *records) {
    auto wrapped = RewrapSecret(from, to, kKind, r.kid, r.wrapped_data_key);
    if (!wrapped) return wrapped.error();
    out.push_back(store::RewrappedKey{r.kid, std::move(*wrapped)});
  }
  return out;
}

}  // namespace ap::vault
